//! Deterministic generation of genesis and per-shard transaction streams.
//!
//! Submodules: `cross` drafts cross-shard transactions and conflicting pairs, `invalid`
//! the transactions that must be rejected (injected invalid kinds and canaries).
//!
//! Why one file of about 1,000 lines (besides its tests): what is left here is the one
//! interleaved walk over all streams and the wallet state it threads through every step
//! (maturity, the ledger, the intra-shard draft), and the signing of what it drafted;
//! the kinds of transaction that could stand apart already did (`cross`, `invalid`).
//! The next seam, if it grows, is the wallets and their maturity rule (`Coin`,
//! `mature_coins`) as a module of their own.
//!
//! Every shard has a stream and its own [`Prg`]. Generation keeps each account's unspent
//! outputs (a wallet) and walks the positions of all streams in interleaved order —
//! position 0 of shard 0, 1, …, then position 1 of every shard, and so on — drafting the
//! transaction at each; the order is what lets a cross-shard transaction at `(s, n)`
//! spend outputs of other shards' streams. Transaction ids do not depend on signatures,
//! so positions are laid out first and signed afterwards in parallel. The walk
//! (`Drafter`) can stop at any position and carry on later with the same state, so a
//! long workload is drafted, signed and written a chunk of positions at a time
//! ([`crate::cache::generate_to_cache`]) and gives the same transactions as [`generate`],
//! which drafts every position before signing.
//!
//! # Intra-shard transactions
//!
//! A slot that is not cross-shard draws a sender of its shard, spends the oldest of its
//! outputs, pays a recipient in the same shard and returns the change. Invalid
//! transactions are drawn with probability `invalid_fraction`, in four kinds, each
//! expected to be rejected for one reason: a corrupted signature, an input that never
//! existed, an input already spent earlier in the stream (by an intra-shard transaction,
//! within [`DOUBLE_SPEND_WINDOW`]), and outputs above the inputs. They never change a
//! wallet, so the valid stream is unaffected by them.
//!
//! # Cross-shard transactions (PROTOCOL.md §5)
//!
//! With probability `cross_shard` a slot holds a cross-shard transaction instead
//! ([`Expected::Cross`], described by a [`CrossItem`]); the slot's shard is its client's
//! home. It takes its `inputs_per_tx` inputs from 1 to `cross_input_shards` distinct
//! shards (the home need not be one), at least one per shard, from one sender per input
//! shard; every sender signs (witness order = sender order), and the declaration names
//! each input's shard and amount. It pays a recipient in a shard that holds none of its
//! inputs when there is one (so some output shard is not an input shard), and returns
//! the change to the first sender. Outcomes:
//!
//! - with probability `cross_conflicts`, a **conflicting pair** fills this slot and the
//!   next one of the same stream: two transactions spending the same two inputs (one in
//!   each of two shards) and paying different recipients, so at most one can commit
//!   ([`CrossExpected::AtMostOne`]);
//! - otherwise, with probability `invalid_fraction`, one input is replaced by one that
//!   never existed (declared with a plausible amount), so its shard refuses and the
//!   transaction must abort ([`CrossExpected::Abort`]);
//! - otherwise the transaction must commit ([`CrossExpected::Commit`]), and its client
//!   misbehaves with the fractions of `clients`. A client that forges a proof
//!   ([`ClientBehaviour::ForgedProof`]) needs a shard that refused, so its transaction
//!   gets a never-existing input as above and must abort. Pairs and invalid transactions
//!   have honest clients.
//!
//! Inputs of cross-shard transactions leave the wallets for good (nothing else in the
//! workload names them, even when their transaction aborts and they are unlocked), and
//! they are not offered to double-spend injection, so an injected intra-shard double
//! spend never names a locked input. Outputs of pairs and of aborting transactions may
//! never exist and never enter a wallet; neither do outputs of clients that never unlock
//! or unlock in part, whose commit waits on the coordinator's timeout.
//!
//! # Maturity, and why
//!
//! An engine runs the shards' streams concurrently, so when shard `s` processes position
//! `n`, another shard may be a little behind or ahead. Generation leaves a margin of
//! `cross_maturity` positions wherever a transaction of one stream depends on another
//! stream:
//!
//! - a cross-shard transaction at `n` spends only outputs created at `n − cross_maturity`
//!   or earlier (genesis outputs always qualify), so the input shard has created them when
//!   the lock request arrives;
//! - the outputs of a cross-shard transaction at `n` enter their owners' wallets only at
//!   `n + cross_maturity`, so the commit has reached the output shard when an
//!   intra-shard transaction spends them, and count as created then;
//! - an output named by an invalid intra-shard transaction at `n` (a corrupted signature
//!   or outputs above the inputs) is spent by no cross-shard transaction before
//!   `n + cross_maturity`, so its lock cannot change the expected rejection reason.
//!
//! A correct engine whose shards stay within `cross_maturity` positions of each other,
//! and commit a cross-shard transaction within that many positions, therefore meets
//! every [`Expected`] outcome. Intra-shard transactions may spend any output of their
//! wallets, mature or not.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ed25519_dalek::{Signer, SigningKey};
use ioschain_core::atomix::DeclaredInput;
use ioschain_core::crypto::hash::Domain;
use ioschain_core::prg::Prg;
use ioschain_core::tx::{RejectReason, Transaction, TxOut, Witness};
use ioschain_core::types::{Amount, OutPoint, Owner, TxId};
use rayon::prelude::*;

use crate::edge::EdgeSignature;

mod cross;
mod invalid;

use crate::spec::{SenderDistribution, SpecError, WorkloadSpec};
use cross::draft_cross;
pub use invalid::{CANARY_EARLY, CANARY_KINDS};
use invalid::{OLDEST_DOUBLE_SPEND, draft_invalid, draw_canary};

/// Injected double spends re-spend one of this many most recent spends of the shard's
/// stream, so an engine that remembers at least this many spent outputs can tell them
/// from unknown inputs.
pub const DOUBLE_SPEND_WINDOW: usize = 1024;

/// What a correct engine must do with a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expected {
    /// Accept it.
    Valid,
    /// Reject it for this reason.
    Invalid(RejectReason),
    /// A cross-shard transaction: `ShardWorkload::cross[k]` describes it (its client,
    /// declaration and expected outcome).
    Cross(u32),
}

/// How the client of a cross-shard transaction behaves (PROTOCOL.md §5.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientBehaviour {
    /// Sends the lock requests, gathers the proofs, sends the unlock to every shard.
    Honest,
    /// Sends the lock requests, then goes silent (the coordinator finishes).
    NeverUnlock,
    /// Sends the unlock-to-commit to only one of the shards that need it.
    PartialCommit,
    /// One input shard refuses (an input that never existed); the client forges that
    /// shard's proof of acceptance and sends an unlock-to-commit with it.
    ForgedProof,
    /// Behaves honestly, then sends its unlock-to-commit again after the commit.
    ReplayCommit,
}

/// What must become of a cross-shard transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrossExpected {
    /// Committed everywhere.
    Commit,
    /// Aborted everywhere (some input shard refuses).
    Abort,
    /// One of a conflicting pair (both spend the same inputs, their lock requests reach
    /// the input shards in opposite orders): at most one of the two commits.
    AtMostOne {
        /// The other transaction's position in the same stream.
        partner: u32,
    },
}

/// A cross-shard transaction of a shard's stream. The shard whose stream holds it is
/// its client's home: the client's logic runs there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrossItem {
    /// Its position in the stream (`txs[index]` is the signed transaction).
    pub index: u32,
    /// Per input, in order: the shard that holds it and its amount.
    pub declared: Vec<DeclaredInput>,
    /// How its client behaves.
    pub client: ClientBehaviour,
    /// The other transaction of a conflicting pair its client sends (client knowledge:
    /// the client sends both, in opposite orders to the two input shards).
    pub partner: Option<u32>,
    /// What must become of it (answer key: only the validity oracle reads it).
    pub expected: CrossExpected,
}

/// One shard's part of a workload.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardWorkload {
    /// Outputs the shard holds at genesis.
    pub genesis: Vec<(OutPoint, TxOut)>,
    /// The stream, in submission order.
    pub txs: Vec<Arc<Transaction>>,
    /// `expected[i]` is what must happen to `txs[i]`.
    pub expected: Vec<Expected>,
    /// The cross-shard transactions of the stream, by position (`Expected::Cross(k)`
    /// names `cross[k]`).
    pub cross: Vec<CrossItem>,
    /// Positions of the transactions whose client signed with an edge case
    /// ([`crate::edge::EdgeSignature`]; part of the answer key, for the oracle), in
    /// order. Their outcome is in `expected` like any other's.
    pub edge_signatures: Vec<u32>,
    /// Positions of the canaries (answer key, for the oracle's `canaries` check), in
    /// order: transactions that must be rejected, each for its `expected` reason.
    pub canaries: Vec<u32>,
}

/// A generated workload.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    /// The spec it was generated from.
    pub spec: WorkloadSpec,
    /// Per shard, indexed by shard id.
    pub shards: Vec<ShardWorkload>,
}

impl ShardWorkload {
    /// The cross-shard transaction at stream position `index`, if it is one (what its
    /// client knows: declaration, behaviour, pair partner).
    pub fn cross_item(&self, index: u32) -> Option<&CrossItem> {
        self.cross
            .binary_search_by_key(&index, |c| c.index)
            .ok()
            .map(|k| &self.cross[k])
    }
}

impl Workload {
    /// Value created at genesis in all shards.
    pub fn genesis_value(&self) -> u128 {
        self.shards
            .iter()
            .flat_map(|s| &s.genesis)
            .map(|(_, out)| u128::from(out.amount.0))
            .sum()
    }

    /// Transactions in all streams.
    pub fn tx_count(&self) -> u64 {
        self.shards.iter().map(|s| s.txs.len() as u64).sum()
    }
}

/// The signing key of account `index`, derived from the seed.
pub fn account_key(seed: u64, index: u32) -> SigningKey {
    let secret = Domain::Prg.hash_parts(&[
        b"ioschain/account",
        &seed.to_le_bytes(),
        &index.to_le_bytes(),
    ]);
    SigningKey::from_bytes(secret.as_bytes())
}

/// A transaction laid out but not yet signed.
pub(crate) struct Draft {
    tx: Transaction,
    id: TxId,
    /// The accounts that sign it, in witness order.
    signers: Vec<u32>,
    /// How the first signer signs.
    signature: SignatureKind,
}

/// How a draft's first signer signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SignatureKind {
    /// ed25519-dalek's signature.
    Honest,
    /// An honest signature with one bit flipped (the invalid kind "bad signature").
    Corrupt,
    /// An edge case (`client_edge_signatures`), valid or not under ZIP-215.
    Edge(EdgeSignature),
}

/// Draws ranks `0..n` with probability proportional to `1 / (rank + 1)^theta`.
struct ZipfSampler {
    cdf: Vec<f64>,
}

impl ZipfSampler {
    fn new(n: usize, theta: f64) -> Self {
        let mut cdf = Vec::with_capacity(n);
        let mut total = 0.0;
        for rank in 0..n {
            total += 1.0 / ((rank + 1) as f64).powf(theta);
            cdf.push(total);
        }
        for value in &mut cdf {
            *value /= total;
        }
        ZipfSampler { cdf }
    }

    fn sample(&self, prg: &mut Prg) -> usize {
        let u = prg.unit();
        self.cdf
            .partition_point(|&c| c <= u)
            .min(self.cdf.len() - 1)
    }
}

/// Draws the senders of one shard (as indices into the shard's accounts).
struct SenderSampler {
    /// Rank → account, so the hottest Zipf ranks are spread over the shard at random.
    by_rank: Vec<usize>,
    /// `None` for uniform senders.
    zipf: Option<ZipfSampler>,
}

impl SenderSampler {
    fn draw(&self, prg: &mut Prg) -> usize {
        match &self.zipf {
            None => prg.below(self.by_rank.len() as u64) as usize,
            Some(zipf) => self.by_rank[zipf.sample(prg)],
        }
    }
}

/// An unspent output in its owner's wallet.
#[derive(Clone, Copy, Debug)]
struct Coin {
    outpoint: OutPoint,
    amount: u64,
    /// The first position at which a cross-shard transaction may spend it (see the
    /// module doc on maturity). Intra-shard transactions ignore it.
    cross_from: u64,
}

/// An output of a cross-shard transaction on its way to its owner's wallet.
#[derive(Debug)]
struct PendingCoin {
    /// The position at which it enters the wallet.
    release_at: u64,
    /// Its owner, by index in the owner's shard.
    account: usize,
    coin: Coin,
}

/// The wallets of every account of every shard.
struct Ledger {
    /// `wallets[shard][account]` (the account's index in its shard): its coins, oldest
    /// first.
    wallets: Vec<Vec<VecDeque<Coin>>>,
    /// Per shard, outputs of cross-shard transactions not yet in a wallet, by release
    /// position.
    pending: Vec<VecDeque<PendingCoin>>,
}

impl Ledger {
    /// Moves the outputs due at `position` or earlier into their wallets.
    fn release(&mut self, position: u64) {
        for (shard, pending) in self.pending.iter_mut().enumerate() {
            while let Some(due) = pending.pop_front_if(|p| p.release_at <= position) {
                self.wallets[shard][due.account].push_back(due.coin);
            }
        }
    }

    /// Schedules the outputs of the cross-shard transaction `tx` (`id`) drafted at
    /// `position`: they enter their owners' wallets `cross_maturity` positions later,
    /// and count as created then.
    fn schedule_outputs(
        &mut self,
        population: &Population<'_>,
        tx: &Transaction,
        id: TxId,
        (recipient, sender): (u32, u32),
        position: u64,
    ) {
        let maturity = u64::from(population.spec.cross_maturity);
        let release_at = position + maturity;
        for (index, output) in tx.outputs.iter().enumerate() {
            // With more than one output, the last is the sender's change (see `split`).
            let change = tx.outputs.len() > 1 && index + 1 == tx.outputs.len();
            let account = if change { sender } else { recipient };
            let (shard, local) = population.place[account as usize];
            self.pending[shard].push_back(PendingCoin {
                release_at,
                account: local,
                coin: Coin {
                    outpoint: OutPoint {
                        tx: id,
                        index: index as u32,
                    },
                    amount: output.amount.0,
                    cross_from: release_at + maturity,
                },
            });
        }
    }
}

/// The indices of `wallet`'s coins a cross-shard transaction at `position` may spend,
/// oldest first.
fn mature_coins(wallet: &VecDeque<Coin>, position: u64) -> impl Iterator<Item = usize> + '_ {
    wallet
        .iter()
        .enumerate()
        .filter(move |(_, coin)| coin.cross_from <= position)
        .map(|(index, _)| index)
}

/// One shard's stream as it is drafted: its random choices and recent spends, which
/// persist over the whole walk, and the drafts not yet taken ([`Drafter::take`]).
struct Stream {
    /// The stream's own random choices (also those of its cross-shard transactions).
    prg: Prg,
    /// Inputs recently spent by the stream's intra-shard transactions, with their
    /// owner's index in the shard, for double-spend injection.
    spent: VecDeque<(OutPoint, usize)>,
    /// The stream position of `drafts[0]` (the positions before it were taken).
    base: u64,
    /// The cross items taken before `cross[0]` (`Expected::Cross(k)` counts them).
    cross_base: u32,
    drafts: Vec<Draft>,
    expected: Vec<Expected>,
    cross: Vec<CrossItem>,
    /// Positions of the drafts signed with an edge case.
    edge_signatures: Vec<u32>,
    /// Positions of the canaries drafted so far.
    canaries: Vec<u32>,
    /// Canary kinds still owed to the stream's first positions (see [`CANARY_EARLY`]).
    canaries_owed: Vec<RejectReason>,
}

impl Stream {
    /// The stream position of the next draft.
    fn next_position(&self) -> u64 {
        self.base + self.drafts.len() as u64
    }

    fn push(&mut self, draft: Draft, expected: Expected) {
        if matches!(draft.signature, SignatureKind::Edge(_)) {
            self.edge_signatures.push(self.next_position() as u32);
        }
        self.drafts.push(draft);
        self.expected.push(expected);
    }

    fn push_cross(
        &mut self,
        draft: Draft,
        declared: Vec<DeclaredInput>,
        client: ClientBehaviour,
        expected: CrossExpected,
    ) {
        let k = self.cross_base + self.cross.len() as u32;
        self.cross.push(CrossItem {
            index: self.next_position() as u32,
            declared,
            client,
            partner: match expected {
                CrossExpected::AtMostOne { partner } => Some(partner),
                _ => None,
            },
            expected,
        });
        self.push(draft, Expected::Cross(k));
    }

    /// Takes the drafts of the positions before `end` (all the stream holds, or all but
    /// the second of a conflicting pair drafted across `end`).
    fn take(&mut self, end: u64) -> StreamPart<Draft> {
        let count = (end - self.base) as usize;
        debug_assert!(
            count <= self.drafts.len(),
            "positions before {end} are drafted"
        );
        let rest = self.drafts.split_off(count);
        let drafts = std::mem::replace(&mut self.drafts, rest);
        let rest = self.expected.split_off(count);
        let expected = std::mem::replace(&mut self.expected, rest);
        let before_end = |positions: &mut Vec<u32>| {
            let rest = positions.split_off(positions.partition_point(|&p| u64::from(p) < end));
            std::mem::replace(positions, rest)
        };
        let edge_signatures = before_end(&mut self.edge_signatures);
        let canaries = before_end(&mut self.canaries);
        let rest = self
            .cross
            .split_off(self.cross.partition_point(|c| u64::from(c.index) < end));
        let cross = std::mem::replace(&mut self.cross, rest);
        let part = StreamPart {
            start: self.base,
            cross_base: self.cross_base,
            txs: drafts,
            expected,
            cross,
            edge_signatures,
            canaries,
        };
        self.base = end;
        self.cross_base += part.cross.len() as u32;
        part
    }
}

/// Consecutive positions of one shard's stream, drafted (`T` = [`Draft`]) or signed
/// (`T` = [`Transaction`]): what a chunk of the cache holds for the shard.
pub(crate) struct StreamPart<T> {
    /// The stream position of `txs[0]`.
    pub start: u64,
    /// The stream's cross items before `cross[0]` (`Expected::Cross(k)` names
    /// `cross[k - cross_base]`).
    pub cross_base: u32,
    pub txs: Vec<T>,
    /// `expected[i]` is what must happen to `txs[i]`.
    pub expected: Vec<Expected>,
    /// The cross items of these positions.
    pub cross: Vec<CrossItem>,
    /// Positions (in the stream) of those signed with an edge case, ascending.
    pub edge_signatures: Vec<u32>,
    /// Positions (in the stream) of the canaries, ascending.
    pub canaries: Vec<u32>,
}

/// What stays fixed while drafting: the spec and where every account lives.
struct Population<'a> {
    spec: &'a WorkloadSpec,
    owners: &'a [Owner],
    /// Per shard, its accounts.
    members: &'a [Vec<u32>],
    /// Per account, its shard and its index among the shard's accounts.
    place: Vec<(usize, usize)>,
    /// Per shard, how its senders are drawn.
    samplers: Vec<SenderSampler>,
}

impl Population<'_> {
    fn owner(&self, account: u32) -> Owner {
        self.owners[account as usize]
    }

    /// A sender in `shard` for a cross-shard transaction at `position` that takes
    /// `count` inputs there: the drawn account, or the next one that holds `count`
    /// mature coins. Returns its index in the shard.
    fn mature_sender(
        &self,
        prg: &mut Prg,
        wallets: &[VecDeque<Coin>],
        shard: usize,
        count: usize,
        position: u64,
    ) -> Result<usize, SpecError> {
        let accounts = wallets.len();
        let drawn = self.samplers[shard].draw(prg);
        (0..accounts)
            .map(|k| (drawn + k) % accounts)
            .find(|&a| mature_coins(&wallets[a], position).nth(count - 1).is_some())
            .ok_or_else(|| SpecError {
                key: "txs_per_shard",
                value: self.spec.txs_per_shard.to_string(),
                allowed: format!(
                    "a stream the outputs can sustain: at position {position}, no account of shard {shard} \
                     holds {count} outputs older than cross_maturity ({}) for a cross-shard transaction \
                     (intra-shard transactions spend the oldest outputs first, so cross_maturity must stay \
                     well below the positions an output lives, about accounts per shard × utxos_per_account \
                     / inputs_per_tx; aborting and conflicting cross-shard transactions, and inputs_per_tx \
                     above outputs_per_tx, shrink the outputs; lower cross_maturity or raise accounts or \
                     utxos_per_account)",
                    self.spec.cross_maturity
                ),
            })
    }

    /// A recipient of a cross-shard transaction with inputs in `input_shards`: an
    /// account of a shard that holds none of its inputs if there is one, else any
    /// account; never one of `excluded`.
    fn draw_recipient(&self, prg: &mut Prg, input_shards: &[usize], excluded: &[u32]) -> u32 {
        let outside: Vec<usize> = (0..self.members.len())
            .filter(|shard| !input_shards.contains(shard))
            .collect();
        let candidates: &[u32] = match outside.as_slice() {
            [] => &[],
            shards => &self.members[shards[prg.below(shards.len() as u64) as usize]],
        };
        // Terminates: every shard holds at least 2 accounts, and `excluded` holds one
        // account per input shard (none outside them) plus at most one more.
        loop {
            let account = if candidates.is_empty() {
                prg.below(u64::from(self.spec.accounts)) as u32
            } else {
                candidates[prg.below(candidates.len() as u64) as usize]
            };
            if !excluded.contains(&account) {
                return account;
            }
        }
    }
}

/// Generates `spec`'s workload. `progress(signed)` is called from worker threads as
/// transactions are signed (for a progress bar); it must be cheap.
///
/// The whole workload is held in memory; [`crate::cache::generate_to_cache`] writes the
/// same workload to disk a chunk at a time instead.
pub fn generate(
    spec: &WorkloadSpec,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Workload, SpecError> {
    let accounts = Accounts::new(spec)?;
    let (geneses, mut drafter) = Drafter::new(spec, &accounts, spec.txs_per_shard as usize);
    drafter.draft_until(spec.txs_per_shard)?;
    let signed = AtomicU64::new(0);
    let parts = drafter.take(spec.txs_per_shard);
    let shards = geneses
        .into_iter()
        .zip(parts)
        .map(|(genesis, part)| {
            let part = accounts.sign(part, &signed, progress);
            ShardWorkload {
                genesis,
                txs: part.txs.into_iter().map(Arc::new).collect(),
                expected: part.expected,
                cross: part.cross,
                edge_signatures: part.edge_signatures,
                canaries: part.canaries,
            }
        })
        .collect();
    progress(signed.load(Ordering::Relaxed));
    Ok(Workload {
        spec: spec.clone(),
        shards,
    })
}

/// Per shard, its genesis outputs.
pub(crate) type Geneses = Vec<Vec<(OutPoint, TxOut)>>;

/// Every account of a spec: its signing key, its owner, and the shard it lives in.
pub(crate) struct Accounts {
    keys: Vec<SigningKey>,
    owners: Vec<Owner>,
    /// Per shard, its accounts.
    members: Vec<Vec<u32>>,
}

impl Accounts {
    /// The accounts of `spec`, once it is checked to be valid and to give every shard at
    /// least two of them.
    pub(crate) fn new(spec: &WorkloadSpec) -> Result<Accounts, SpecError> {
        spec.validate()?;
        let keys: Vec<SigningKey> = (0..spec.accounts)
            .into_par_iter()
            .map(|i| account_key(spec.seed, i))
            .collect();
        let owners: Vec<Owner> = keys
            .iter()
            .map(|k| Owner(k.verifying_key().to_bytes()))
            .collect();
        let mut members: Vec<Vec<u32>> = vec![Vec::new(); spec.shards as usize];
        for (index, owner) in owners.iter().enumerate() {
            members[owner.shard(spec.shards).0 as usize].push(index as u32);
        }
        if let Some((shard, _)) = members.iter().enumerate().find(|(_, m)| m.len() < 2) {
            return Err(SpecError {
                key: "accounts",
                value: spec.accounts.to_string(),
                allowed: format!(
                    "enough that every shard holds at least 2 accounts (shard {shard} holds fewer)"
                ),
            });
        }
        Ok(Accounts {
            keys,
            owners,
            members,
        })
    }

    /// Signs a part of a stream, in parallel (transaction ids do not depend on the
    /// signatures). `signed` counts the transactions signed; `progress` sees the count
    /// every 4096.
    pub(crate) fn sign(
        &self,
        part: StreamPart<Draft>,
        signed: &AtomicU64,
        progress: &(dyn Fn(u64) + Sync),
    ) -> StreamPart<Transaction> {
        let txs = part
            .txs
            .into_par_iter()
            .map(|draft| {
                let tx = self.sign_draft(draft);
                let done = signed.fetch_add(1, Ordering::Relaxed) + 1;
                if done.is_multiple_of(4096) {
                    progress(done);
                }
                tx
            })
            .collect();
        StreamPart {
            start: part.start,
            cross_base: part.cross_base,
            txs,
            expected: part.expected,
            cross: part.cross,
            edge_signatures: part.edge_signatures,
            canaries: part.canaries,
        }
    }

    fn sign_draft(&self, draft: Draft) -> Transaction {
        let mut tx = draft.tx;
        for (position, &signer) in draft.signers.iter().enumerate() {
            let key = &self.keys[signer as usize];
            let message = draft.id.0.as_bytes();
            let signature = match draft.signature {
                SignatureKind::Edge(kind) if position == 0 => kind.sign(key, message, message),
                SignatureKind::Corrupt if position == 0 => {
                    let mut signature = key.sign(message).to_bytes();
                    signature[9] ^= 0x10;
                    signature
                }
                _ => key.sign(message).to_bytes(),
            };
            tx.witnesses.push(Witness {
                owner: self.owners[signer as usize],
                signature,
            });
        }
        tx
    }
}

/// The walk that lays out every stream, position by position across the shards (see the
/// module doc), resumable: [`Drafter::draft_until`] carries it on to a position, with
/// the wallets, the pending outputs and every stream's random choices kept between
/// calls, and [`Drafter::take`] hands over what was drafted so far. Drafting to `n` in
/// one call or in several gives the same drafts.
pub(crate) struct Drafter<'a> {
    population: Population<'a>,
    ledger: Ledger,
    streams: Vec<Stream>,
    /// The first position not yet drafted in every stream (a stream may be one further:
    /// the second of a conflicting pair).
    position: u64,
}

impl<'a> Drafter<'a> {
    /// The genesis outputs of every shard, and a drafter at position 0 whose streams
    /// reserve room for `capacity` drafts each (the most taken at once).
    pub(crate) fn new(
        spec: &'a WorkloadSpec,
        accounts: &'a Accounts,
        capacity: usize,
    ) -> (Geneses, Drafter<'a>) {
        let members = &accounts.members;
        let owners = &accounts.owners;
        let shard_count = members.len();
        let mut geneses = Vec::with_capacity(shard_count);
        let mut wallets = Vec::with_capacity(shard_count);
        let mut samplers = Vec::with_capacity(shard_count);
        let mut streams = Vec::with_capacity(shard_count);
        for (shard, members) in members.iter().enumerate() {
            let mut prg = Prg::new(&[
                b"ioschain/workload-stream",
                &spec.seed.to_le_bytes(),
                &(shard as u32).to_le_bytes(),
            ]);
            let (genesis, shard_wallets) = genesis_of(spec, members, owners);
            geneses.push(genesis);
            wallets.push(shard_wallets);
            let mut by_rank: Vec<usize> = (0..members.len()).collect();
            prg.shuffle(&mut by_rank);
            let zipf = match spec.sender {
                SenderDistribution::Uniform => None,
                SenderDistribution::Zipf { theta } => Some(ZipfSampler::new(members.len(), theta)),
            };
            samplers.push(SenderSampler { by_rank, zipf });
            streams.push(Stream {
                prg,
                spent: VecDeque::with_capacity(DOUBLE_SPEND_WINDOW),
                base: 0,
                cross_base: 0,
                drafts: Vec::with_capacity(capacity),
                expected: Vec::with_capacity(capacity),
                cross: Vec::new(),
                edge_signatures: Vec::new(),
                canaries: Vec::new(),
                canaries_owed: if spec.canary_rate > 0.0 {
                    CANARY_KINDS.to_vec()
                } else {
                    Vec::new()
                },
            });
        }
        let mut place = vec![(0, 0); owners.len()];
        for (shard, members) in members.iter().enumerate() {
            for (local, &account) in members.iter().enumerate() {
                place[account as usize] = (shard, local);
            }
        }
        let population = Population {
            spec,
            owners,
            members,
            place,
            samplers,
        };
        let ledger = Ledger {
            wallets,
            pending: (0..shard_count).map(|_| VecDeque::new()).collect(),
        };
        let drafter = Drafter {
            population,
            ledger,
            streams,
            position: 0,
        };
        (geneses, drafter)
    }

    /// Drafts every stream up to (not including) position `end`, at most the stream
    /// length.
    pub(crate) fn draft_until(&mut self, end: u64) -> Result<(), SpecError> {
        let spec = self.population.spec;
        debug_assert!(end <= spec.txs_per_shard);
        for position in self.position..end {
            self.ledger.release(position);
            for (shard, stream) in self.streams.iter_mut().enumerate() {
                if stream.next_position() > position {
                    // Taken by the second transaction of a conflicting pair.
                    continue;
                }
                let cross = spec.cross_shard > 0.0 && stream.prg.unit() < spec.cross_shard;
                if cross {
                    draft_cross(&self.population, &mut self.ledger, stream, shard, position)?;
                } else {
                    draft_intra(
                        &self.population,
                        &mut self.ledger.wallets[shard],
                        stream,
                        shard,
                        position,
                    )?;
                }
            }
            self.position = position + 1;
        }
        Ok(())
    }

    /// Per shard, the drafts of the positions not yet taken before `end` (drafted with
    /// [`Drafter::draft_until`]).
    pub(crate) fn take(&mut self, end: u64) -> Vec<StreamPart<Draft>> {
        assert!(end <= self.position, "positions before {end} are drafted");
        self.streams.iter_mut().map(|s| s.take(end)).collect()
    }
}

/// The genesis outputs of a shard's `accounts` and their wallets (mature from the
/// start: they exist before any stream begins).
fn genesis_of(
    spec: &WorkloadSpec,
    accounts: &[u32],
    owners: &[Owner],
) -> (Vec<(OutPoint, TxOut)>, Vec<VecDeque<Coin>>) {
    let mut genesis = Vec::with_capacity(accounts.len() * spec.utxos_per_account as usize);
    let mut wallets = Vec::with_capacity(accounts.len());
    for &account in accounts {
        let tx = TxId(Domain::Prg.hash_parts(&[
            b"ioschain/genesis",
            &spec.seed.to_le_bytes(),
            &account.to_le_bytes(),
        ]));
        let mut wallet = VecDeque::with_capacity(spec.utxos_per_account as usize * 2);
        for index in 0..spec.utxos_per_account {
            let outpoint = OutPoint { tx, index };
            genesis.push((
                outpoint,
                TxOut {
                    owner: owners[account as usize],
                    amount: Amount(spec.genesis_amount),
                },
            ));
            wallet.push_back(Coin {
                outpoint,
                amount: spec.genesis_amount,
                cross_from: 0,
            });
        }
        wallets.push(wallet);
    }
    (genesis, wallets)
}

/// Drafts the intra-shard transaction at `position` of `shard`'s stream (`wallets` are
/// the shard's).
fn draft_intra(
    population: &Population<'_>,
    wallets: &mut [VecDeque<Coin>],
    stream: &mut Stream,
    shard: usize,
    position: u64,
) -> Result<(), SpecError> {
    let spec = population.spec;
    let accounts = &population.members[shard];
    let count = accounts.len();
    let need = spec.inputs_per_tx as usize;
    let drawn = population.samplers[shard].draw(&mut stream.prg);
    // The drawn sender, or the next account that holds enough outputs.
    let sender = (0..count)
        .map(|k| (drawn + k) % count)
        .find(|&a| wallets[a].len() >= need)
        .ok_or_else(|| SpecError {
            key: "txs_per_shard",
            value: spec.txs_per_shard.to_string(),
            allowed: format!(
                "a stream the shard's outputs can sustain: shard {shard} ran out after {position} transactions \
                 (inputs_per_tx above outputs_per_tx, and aborting or conflicting cross-shard transactions, \
                 shrink the outputs; raise accounts or utxos_per_account)"
            ),
        })?;
    let recipient = stream.prg.below(count as u64) as usize;
    // A canary, an injected invalid transaction, or a client that signs with an edge
    // case (each drawn only when asked for, so other workloads keep their streams).
    let canary = draw_canary(spec, stream, position);
    let invalid = canary.is_none()
        && spec.invalid_fraction > 0.0
        && stream.prg.unit() < spec.invalid_fraction;
    let edge = (canary.is_none()
        && !invalid
        && spec.client_edge_signatures > 0.0
        && stream.prg.unit() < spec.client_edge_signatures)
        .then(|| EdgeSignature::ALL[stream.prg.below(EdgeSignature::ALL.len() as u64) as usize]);
    if canary.is_some() || invalid || edge.is_some_and(|kind| !kind.valid()) {
        // An edge case that ZIP-215 rejects is a bad signature like a corrupted one.
        let kind = match canary {
            Some(RejectReason::BadSignature) => 0,
            Some(RejectReason::UnknownInput) => 1,
            Some(_) => OLDEST_DOUBLE_SPEND,
            None if invalid => stream.prg.below(4),
            None => 0,
        };
        let (mut draft, reason) = draft_invalid(
            kind,
            spec,
            position,
            sender,
            recipient,
            accounts,
            population.owners,
            wallets,
            &stream.spent,
        );
        if matches!(reason, RejectReason::BadSignature | RejectReason::Overspend) {
            // It names the sender's oldest outputs: keep cross-shard transactions off
            // them for a while, so none is locked before this one is rejected.
            let mature = position + u64::from(spec.cross_maturity);
            for coin in wallets[sender].iter_mut().take(need) {
                coin.cross_from = coin.cross_from.max(mature);
            }
        }
        if let Some(kind) = edge {
            draft.signature = SignatureKind::Edge(kind);
        }
        if let Some(planted) = canary {
            debug_assert_eq!(reason, planted, "a double-spend canary waits for spends");
            stream.canaries.push(stream.next_position() as u32);
        }
        stream.push(draft, Expected::Invalid(reason));
        return Ok(());
    }
    let inputs: Vec<Coin> = wallets[sender].drain(..need).collect();
    let total: u64 = inputs.iter().map(|coin| coin.amount).sum();
    let outputs = split(
        total,
        spec.outputs_per_tx,
        population.owner(accounts[recipient]),
        population.owner(accounts[sender]),
    );
    let tx = Transaction {
        inputs: inputs.iter().map(|coin| coin.outpoint).collect(),
        outputs,
        witnesses: Vec::with_capacity(1),
    };
    let id = tx.id();
    let cross_from = position + u64::from(spec.cross_maturity);
    for (index, output) in tx.outputs.iter().enumerate() {
        // With more than one output, the last is the sender's change (see `split`).
        let change = tx.outputs.len() > 1 && index + 1 == tx.outputs.len();
        let owner_local = if change { sender } else { recipient };
        wallets[owner_local].push_back(Coin {
            outpoint: OutPoint {
                tx: id,
                index: index as u32,
            },
            amount: output.amount.0,
            cross_from,
        });
    }
    for coin in &inputs {
        if stream.spent.len() == DOUBLE_SPEND_WINDOW {
            stream.spent.pop_front();
        }
        stream.spent.push_back((coin.outpoint, sender));
    }
    stream.push(
        Draft {
            tx,
            id,
            signers: vec![accounts[sender]],
            signature: edge.map_or(SignatureKind::Honest, SignatureKind::Edge),
        },
        Expected::Valid,
    );
    Ok(())
}

/// Splits `total` into `count` outputs: half to the recipient (over `count − 1`
/// outputs), the rest back to the sender as change in the last output. Falls back to
/// one output when `total` is too small for every output to be non-zero.
fn split(total: u64, count: u32, recipient: Owner, sender: Owner) -> Vec<TxOut> {
    if count == 1 || total < u64::from(count) * 2 {
        return vec![TxOut {
            owner: recipient,
            amount: Amount(total),
        }];
    }
    let paid = count as u64 - 1;
    let each = (total / 2) / paid;
    let mut outputs: Vec<TxOut> = (0..paid)
        .map(|_| TxOut {
            owner: recipient,
            amount: Amount(each),
        })
        .collect();
    outputs.push(TxOut {
        owner: sender,
        amount: Amount(total - each * paid),
    });
    outputs
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use ioschain_core::atomix::{CrossTx, Signatures};
    use ioschain_core::crypto::sig::{BatchVerifier, KeyCache, verify_one};
    use ioschain_core::utxo::{UtxoSet, UtxoState};

    use super::*;
    use crate::spec::ClientMix;

    fn spec(invalid_fraction: f64, sender: SenderDistribution) -> WorkloadSpec {
        WorkloadSpec {
            seed: 7,
            shards: 2,
            accounts: 200,
            utxos_per_account: 2,
            genesis_amount: 1_000_000,
            inputs_per_tx: 2,
            outputs_per_tx: 2,
            sender,
            invalid_fraction,
            client_edge_signatures: 0.0,
            canary_rate: 0.0,
            txs_per_shard: 400,
            cross_shard: 0.0,
            cross_input_shards: 2,
            cross_maturity: 256,
            cross_conflicts: 0.0,
            clients: ClientMix::default(),
        }
    }

    /// Replays a shard's stream against a fresh UTXO set with full checks and returns
    /// what happened to each transaction.
    fn replay(shard: &ShardWorkload) -> Vec<Expected> {
        let mut set = UtxoSet::new();
        for (outpoint, out) in &shard.genesis {
            set.create(*outpoint, *out).unwrap();
        }
        let mut keys = KeyCache::new();
        let mut verifier = BatchVerifier::with_capacity(shard.txs.len(), [5; 32]);
        let mut bad = Vec::new();
        for (i, tx) in shard.txs.iter().enumerate() {
            for w in &tx.witnesses {
                verifier.push(
                    tx.id().0.0,
                    &w.signature,
                    keys.get(&w.owner).unwrap(),
                    i as u32,
                );
            }
        }
        verifier.verify(&mut bad);
        shard
            .txs
            .iter()
            .enumerate()
            .map(|(i, tx)| {
                if bad.contains(&(i as u32)) {
                    return Expected::Invalid(RejectReason::BadSignature);
                }
                match set.apply(tx, tx.id()) {
                    Ok(_) => Expected::Valid,
                    Err(rejection) => Expected::Invalid(rejection.reason()),
                }
            })
            .collect()
    }

    #[test]
    fn valid_stream_replays_without_a_single_rejection() {
        let workload = generate(&spec(0.0, SenderDistribution::Uniform), &|_| {}).unwrap();
        for shard in &workload.shards {
            assert!(replay(shard).iter().all(|e| *e == Expected::Valid));
        }
    }

    #[test]
    fn invalid_transactions_are_rejected_for_exactly_the_expected_reason() {
        let workload = generate(
            &spec(0.2, SenderDistribution::Zipf { theta: 0.99 }),
            &|_| {},
        )
        .unwrap();
        let mut reasons = std::collections::BTreeSet::new();
        for shard in &workload.shards {
            assert_eq!(replay(shard), shard.expected);
            reasons.extend(shard.expected.iter().filter_map(|e| match e {
                Expected::Invalid(r) => Some(*r),
                Expected::Valid | Expected::Cross(_) => None,
            }));
        }
        assert_eq!(reasons.len(), 4, "all four kinds were drawn: {reasons:?}");
    }

    #[test]
    fn edge_signed_transactions_get_the_verdict_zip215_gives_them() {
        let mut edge = spec(0.05, SenderDistribution::Uniform);
        edge.client_edge_signatures = 0.3;
        let workload = generate(&edge, &|_| {}).unwrap();
        let (mut valid, mut invalid) = (0, 0);
        for shard in &workload.shards {
            // The engine's verifier and UTXO rules meet every expectation…
            assert_eq!(replay(shard), shard.expected);
            for &i in &shard.edge_signatures {
                let (tx, expected) = (&shard.txs[i as usize], shard.expected[i as usize]);
                // …and ed25519-zebra, alone, agrees with each edge case's verdict.
                let witness = &tx.witnesses[0];
                let zebra = ed25519_zebra::VerificationKey::try_from(witness.owner.0)
                    .unwrap()
                    .verify(
                        &ed25519_zebra::Signature::from_bytes(&witness.signature),
                        tx.id().0.as_bytes(),
                    )
                    .is_ok();
                assert_eq!(zebra, expected == Expected::Valid, "shard tx {i}");
                match expected {
                    Expected::Valid => valid += 1,
                    Expected::Invalid(RejectReason::BadSignature) => invalid += 1,
                    other => panic!("edge case {i} expected {other:?}"),
                }
            }
        }
        assert!(
            valid > 20 && invalid > 10,
            "{valid} valid, {invalid} invalid"
        );
    }

    #[test]
    fn every_stream_carries_each_canary_kind_early_and_each_is_rejected_for_it() {
        let mut with_canaries = spec(0.0, SenderDistribution::Uniform);
        with_canaries.canary_rate = 0.002;
        let workload = generate(&with_canaries, &|_| {}).unwrap();
        for shard in &workload.shards {
            // The engine's rules reject exactly the canaries, each for its reason.
            assert_eq!(replay(shard), shard.expected);
            let kinds: Vec<RejectReason> = shard
                .canaries
                .iter()
                .map(|&i| match shard.expected[i as usize] {
                    Expected::Invalid(reason) => reason,
                    other => panic!("canary {i} expected {other:?}"),
                })
                .collect();
            let early: std::collections::BTreeSet<_> = shard
                .canaries
                .iter()
                .zip(&kinds)
                .filter(|(i, _)| u64::from(**i) < CANARY_EARLY + 64)
                .map(|(_, k)| *k)
                .collect();
            assert_eq!(early.len(), 3, "{kinds:?} at {:?}", shard.canaries);
            // Everything else is valid (no invalid_fraction here).
            let invalid = shard
                .expected
                .iter()
                .filter(|e| matches!(e, Expected::Invalid(_)))
                .count();
            assert_eq!(invalid, shard.canaries.len());
        }
        // Off, nothing is drawn: the stream is the one without canaries.
        let off = generate(&spec(0.0, SenderDistribution::Uniform), &|_| {}).unwrap();
        assert!(off.shards.iter().all(|s| s.canaries.is_empty()));
    }

    #[test]
    fn generation_is_deterministic() {
        for s in [spec(0.1, SenderDistribution::Uniform), cross_spec(3)] {
            let first = generate(&s, &|_| {}).unwrap();
            assert_eq!(first, generate(&s, &|_| {}).unwrap());
            let mut other_seed = s.clone();
            other_seed.seed += 1;
            assert_ne!(first.shards, generate(&other_seed, &|_| {}).unwrap().shards);
        }
    }

    /// Drafts `spec` in runs of `chunk` positions, signing each run as it is taken, and
    /// puts the parts back together as a workload.
    fn generate_in_chunks(spec: &WorkloadSpec, chunk: u64) -> Workload {
        let accounts = Accounts::new(spec).unwrap();
        let (geneses, mut drafter) = Drafter::new(spec, &accounts, chunk as usize);
        let mut shards: Vec<ShardWorkload> = geneses
            .into_iter()
            .map(|genesis| ShardWorkload {
                genesis,
                txs: Vec::new(),
                expected: Vec::new(),
                cross: Vec::new(),
                edge_signatures: Vec::new(),
                canaries: Vec::new(),
            })
            .collect();
        let signed = AtomicU64::new(0);
        let mut start = 0;
        while start < spec.txs_per_shard {
            let end = (start + chunk).min(spec.txs_per_shard);
            drafter.draft_until(end).unwrap();
            for (shard, part) in shards.iter_mut().zip(drafter.take(end)) {
                assert_eq!(part.start, start);
                assert_eq!(part.cross_base as usize, shard.cross.len());
                let part = accounts.sign(part, &signed, &|_| {});
                shard.txs.extend(part.txs.into_iter().map(Arc::new));
                shard.expected.extend(part.expected);
                shard.cross.extend(part.cross);
                shard.edge_signatures.extend(part.edge_signatures);
                shard.canaries.extend(part.canaries);
            }
            start = end;
        }
        assert_eq!(
            signed.into_inner(),
            spec.txs_per_shard * u64::from(spec.shards)
        );
        Workload {
            spec: spec.clone(),
            shards,
        }
    }

    #[test]
    fn drafting_in_chunks_gives_the_same_streams_as_drafting_at_once() {
        let mut flagged = spec(0.1, SenderDistribution::Zipf { theta: 0.99 });
        flagged.client_edge_signatures = 0.1;
        flagged.canary_rate = 0.01;
        for s in [flagged, cross_spec(3)] {
            let whole = generate(&s, &|_| {}).unwrap();
            // Runs of one position split every conflicting pair from its second half.
            for chunk in [1, 7, 64, s.txs_per_shard] {
                assert_eq!(generate_in_chunks(&s, chunk), whole, "chunks of {chunk}");
            }
        }
    }

    #[test]
    fn without_cross_shard_transactions_there_are_no_cross_items() {
        let workload = generate(&spec(0.2, SenderDistribution::Uniform), &|_| {}).unwrap();
        for shard in &workload.shards {
            assert!(shard.cross.is_empty());
            assert!(
                !shard
                    .expected
                    .iter()
                    .any(|e| matches!(e, Expected::Cross(_)))
            );
        }
    }

    #[test]
    fn accounts_sit_in_the_shard_their_owner_maps_to() {
        let workload = generate(&spec(0.0, SenderDistribution::Uniform), &|_| {}).unwrap();
        for (shard, part) in workload.shards.iter().enumerate() {
            for (_, out) in &part.genesis {
                assert_eq!(out.owner.shard(2).0 as usize, shard);
            }
            for tx in &part.txs {
                for out in &tx.outputs {
                    assert_eq!(out.owner.shard(2).0 as usize, shard);
                }
            }
        }
    }

    #[test]
    fn shrinking_stream_that_runs_out_is_an_error_not_a_panic() {
        let mut s = spec(0.0, SenderDistribution::Uniform);
        s.outputs_per_tx = 1;
        s.txs_per_shard = 10_000;
        let err = generate(&s, &|_| {}).unwrap_err();
        assert_eq!(err.key, "txs_per_shard");
    }

    #[test]
    fn zipf_concentrates_senders() {
        let mut prg = Prg::new(&[b"zipf"]);
        let zipf = ZipfSampler::new(1000, 1.2);
        let hits = (0..10_000).filter(|_| zipf.sample(&mut prg) == 0).count();
        // P(rank 0) = 1 / H(1000, 1.2) ≈ 0.2 for theta 1.2.
        assert!((1500..2600).contains(&hits), "{hits}");
    }

    fn cross_spec(shards: u32) -> WorkloadSpec {
        WorkloadSpec {
            seed: 11,
            shards,
            accounts: 150 * shards,
            utxos_per_account: 4,
            genesis_amount: 1_000_000,
            inputs_per_tx: 3,
            outputs_per_tx: 3,
            sender: SenderDistribution::Uniform,
            invalid_fraction: 0.1,
            client_edge_signatures: 0.0,
            canary_rate: 0.0,
            txs_per_shard: 600,
            cross_shard: 0.3,
            cross_input_shards: shards.min(3),
            cross_maturity: 8,
            cross_conflicts: 0.1,
            clients: ClientMix {
                never_unlock: 0.1,
                partial_commit: 0.1,
                forged_proof: 0.1,
                replay_commit: 0.1,
            },
        }
    }

    /// What a replay over all shards saw.
    #[derive(Debug, Default)]
    struct Tally {
        slots: usize,
        intra: usize,
        commits: usize,
        aborts: usize,
        /// Transactions of conflicting pairs (two per pair).
        paired: usize,
        /// Aborting transactions whose client is honest (drawn invalid).
        invalid: usize,
        clients: std::collections::BTreeMap<&'static str, usize>,
    }

    fn signature_valid(keys: &mut KeyCache, tx: &Transaction) -> bool {
        let id = tx.id();
        tx.witnesses.iter().all(|w| {
            keys.get(&w.owner)
                .is_some_and(|key| verify_one(&key, &id.0.0, &w.signature))
        })
    }

    /// Replays every stream at once, in generation order (position `n` of every shard,
    /// then `n + 1`), with a UTXO set per shard: intra-shard transactions are applied,
    /// a cross-shard transaction expected to commit spends its inputs in their declared
    /// shards and creates its outputs in their owners' shards `cross_maturity` positions
    /// later, and the others change nothing. Checks every expectation on the way.
    fn replay_all_shards(workload: &Workload) -> Tally {
        let spec = &workload.spec;
        let shard_count = spec.shards;
        let maturity = u64::from(spec.cross_maturity);
        let mut sets: Vec<UtxoSet> = workload
            .shards
            .iter()
            .map(|shard| {
                let mut set = UtxoSet::new();
                for (outpoint, out) in &shard.genesis {
                    set.create(*outpoint, *out).unwrap();
                }
                set
            })
            .collect();
        // When each output was created (genesis outputs are not listed), and when an
        // invalid intra-shard transaction last named it.
        let mut created_at: HashMap<OutPoint, u64> = HashMap::new();
        let mut named_at: HashMap<OutPoint, u64> = HashMap::new();
        let mut pending: VecDeque<(u64, OutPoint, TxOut)> = VecDeque::new();
        let mut keys = KeyCache::new();
        let mut tally = Tally::default();
        for n in 0..spec.txs_per_shard {
            while pending.front().is_some_and(|(at, _, _)| *at <= n) {
                let (_, outpoint, out) = pending.pop_front().unwrap();
                sets[out.owner.shard(shard_count).0 as usize]
                    .create(outpoint, out)
                    .unwrap();
                created_at.insert(outpoint, n);
            }
            for (s, shard) in workload.shards.iter().enumerate() {
                tally.slots += 1;
                let i = n as usize;
                let tx = &shard.txs[i];
                let id = tx.id();
                let k = match shard.expected[i] {
                    Expected::Cross(k) => k as usize,
                    expected => {
                        tally.intra += 1;
                        let outcome = if !signature_valid(&mut keys, tx) {
                            Expected::Invalid(RejectReason::BadSignature)
                        } else {
                            match sets[s].apply(tx, id) {
                                Ok(_) => Expected::Valid,
                                Err(rejection) => Expected::Invalid(rejection.reason()),
                            }
                        };
                        assert_eq!(outcome, expected, "shard {s} tx {n}");
                        if outcome == Expected::Valid {
                            for index in 0..tx.outputs.len() {
                                created_at.insert(
                                    OutPoint {
                                        tx: id,
                                        index: index as u32,
                                    },
                                    n,
                                );
                            }
                        }
                        if matches!(
                            expected,
                            Expected::Invalid(RejectReason::BadSignature | RejectReason::Overspend)
                        ) {
                            for input in &tx.inputs {
                                named_at.insert(*input, n);
                            }
                        }
                        continue;
                    }
                };
                let item = &shard.cross[k];
                assert_eq!(item.index as u64, n, "shard {s}: cross[{k}] names tx {n}");
                let xtx = CrossTx {
                    tx: (**tx).clone(),
                    declared: item.declared.clone(),
                };
                xtx.check(shard_count)
                    .unwrap_or_else(|e| panic!("shard {s} tx {n}: {e}"));
                for input_shard in xtx.input_shards() {
                    assert_eq!(
                        xtx.check_signatures(input_shard, shard_count, &mut keys),
                        Signatures::Valid,
                        "shard {s} tx {n}, signatures of input shard {input_shard}"
                    );
                }
                let input_shards = xtx.input_shards();
                assert!(input_shards.len() <= spec.cross_input_shards.max(2) as usize);
                if input_shards.len() < shard_count as usize {
                    let paid = tx.outputs[0].owner.shard(shard_count);
                    assert!(
                        !input_shards.contains(&paid),
                        "shard {s} tx {n}: paid to input shard {paid}"
                    );
                }
                let unspent_as_declared = |sets: &[UtxoSet], input: usize| {
                    let declared = item.declared[input];
                    sets[declared.shard.0 as usize]
                        .get(&tx.inputs[input])
                        .is_some_and(|u| {
                            u.state == UtxoState::Unspent && u.amount == declared.amount
                        })
                };
                let all_unspent =
                    (0..tx.inputs.len()).all(|input| unspent_as_declared(&sets, input));
                match item.expected {
                    CrossExpected::Commit => {
                        tally.commits += 1;
                        *tally.clients.entry(client_name(item.client)).or_default() += 1;
                        assert!(
                            !matches!(item.client, ClientBehaviour::ForgedProof),
                            "shard {s} tx {n}: a forged proof cannot commit"
                        );
                        assert!(
                            all_unspent,
                            "shard {s} tx {n}: an input is not unspent as declared"
                        );
                        assert_eq!(tx.inputs.len(), spec.inputs_per_tx as usize);
                        for input in &tx.inputs {
                            if let Some(&created) = created_at.get(input) {
                                assert!(
                                    created + maturity <= n,
                                    "shard {s} tx {n}: input created at {created}"
                                );
                            }
                            if let Some(&named) = named_at.get(input) {
                                assert!(
                                    named + maturity <= n,
                                    "shard {s} tx {n}: input named at {named}"
                                );
                            }
                        }
                        // One witness per sender, in input order.
                        let mut input_owners: Vec<Owner> = tx
                            .inputs
                            .iter()
                            .zip(&item.declared)
                            .map(|(input, d)| sets[d.shard.0 as usize].get(input).unwrap().owner)
                            .collect();
                        input_owners.dedup();
                        let witnesses: Vec<Owner> = tx.witnesses.iter().map(|w| w.owner).collect();
                        assert_eq!(witnesses, input_owners, "shard {s} tx {n}");
                        for input_shard in &input_shards {
                            let part: Vec<OutPoint> =
                                xtx.part(*input_shard).map(|(o, _)| *o).collect();
                            let set = &mut sets[input_shard.0 as usize];
                            set.lock_inputs(id, &part).unwrap();
                            set.commit_lock(id, &part).unwrap();
                        }
                        for (index, out) in tx.outputs.iter().enumerate() {
                            pending.push_back((
                                n + maturity,
                                OutPoint {
                                    tx: id,
                                    index: index as u32,
                                },
                                *out,
                            ));
                        }
                    }
                    CrossExpected::Abort => {
                        tally.aborts += 1;
                        match item.client {
                            ClientBehaviour::Honest => tally.invalid += 1,
                            ClientBehaviour::ForgedProof => {
                                *tally.clients.entry("forged_proof").or_default() += 1;
                            }
                            other => panic!("shard {s} tx {n}: aborting with client {other:?}"),
                        }
                        assert!(!all_unspent, "shard {s} tx {n}: every input exists unspent");
                        assert_eq!(
                            (0..tx.inputs.len())
                                .filter(|&input| !unspent_as_declared(&sets, input))
                                .count(),
                            1,
                            "shard {s} tx {n}: exactly one input never existed"
                        );
                    }
                    CrossExpected::AtMostOne { partner } => {
                        tally.paired += 1;
                        assert_eq!(item.client, ClientBehaviour::Honest);
                        assert!(partner as u64 == n + 1 || partner as u64 + 1 == n);
                        let Expected::Cross(other_k) = shard.expected[partner as usize] else {
                            panic!("shard {s} tx {n}: partner {partner} is not cross-shard");
                        };
                        let other = &shard.cross[other_k as usize];
                        assert_eq!(
                            other.expected,
                            CrossExpected::AtMostOne { partner: n as u32 }
                        );
                        assert_eq!(other.declared, item.declared);
                        let other_tx = &shard.txs[partner as usize];
                        assert_eq!(other_tx.inputs, tx.inputs, "a pair spends the same inputs");
                        assert_ne!(other_tx.id(), id, "a pair is two transactions");
                        assert_eq!(tx.inputs.len(), 2);
                        assert_eq!(input_shards.len(), 2);
                        assert!(
                            all_unspent,
                            "shard {s} tx {n}: a pair's inputs exist unspent"
                        );
                    }
                }
            }
        }
        for shard in &workload.shards {
            assert!(shard.cross.windows(2).all(|w| w[0].index < w[1].index));
            let named = shard
                .expected
                .iter()
                .filter(|e| matches!(e, Expected::Cross(_)))
                .count();
            assert_eq!(named, shard.cross.len());
        }
        tally
    }

    fn client_name(client: ClientBehaviour) -> &'static str {
        match client {
            ClientBehaviour::Honest => "honest",
            ClientBehaviour::NeverUnlock => "never_unlock",
            ClientBehaviour::PartialCommit => "partial_commit",
            ClientBehaviour::ForgedProof => "forged_proof",
            ClientBehaviour::ReplayCommit => "replay_commit",
        }
    }

    #[test]
    fn cross_shard_streams_replay_as_expected_over_all_shards() {
        // 2 shards: every shard can be an input shard (recipients anywhere); 4 shards
        // with Zipf senders: recipients outside the input shards.
        let mut zipf = cross_spec(4);
        zipf.sender = SenderDistribution::Zipf { theta: 0.99 };
        for spec in [cross_spec(2), cross_spec(3), zipf] {
            let workload = generate(&spec, &|_| {}).unwrap();
            let tally = replay_all_shards(&workload);
            assert!(
                tally.commits > 0 && tally.aborts > 0 && tally.paired > 0 && tally.intra > 0,
                "{tally:?}"
            );
        }
    }

    #[test]
    fn cross_shard_fractions_are_roughly_as_configured() {
        let mut spec = cross_spec(4);
        spec.txs_per_shard = 1500;
        spec.accounts = 4 * 400;
        let tally = replay_all_shards(&generate(&spec, &|_| {}).unwrap());
        let cross = tally.commits + tally.aborts + tally.paired;
        let fraction = cross as f64 / tally.slots as f64;
        assert!(
            (0.2..0.4).contains(&fraction),
            "cross {fraction}: {tally:?}"
        );
        // A pair is drawn for 10% of cross-shard draws and fills two slots.
        let paired = tally.paired as f64 / cross as f64;
        assert!((0.1..0.3).contains(&paired), "paired {paired}: {tally:?}");
        let unpaired = (cross - tally.paired) as f64;
        let invalid = tally.invalid as f64 / unpaired;
        assert!(
            (0.05..0.16).contains(&invalid),
            "invalid {invalid}: {tally:?}"
        );
        // The clients of the valid ones: 10% each.
        let valid = unpaired - tally.invalid as f64;
        for name in [
            "never_unlock",
            "partial_commit",
            "forged_proof",
            "replay_commit",
        ] {
            let share = tally.clients.get(name).copied().unwrap_or(0) as f64 / valid;
            assert!((0.05..0.16).contains(&share), "{name} {share}: {tally:?}");
        }
    }

    #[test]
    fn without_conflicts_or_misbehaviour_every_cross_shard_transaction_commits() {
        let mut spec = cross_spec(3);
        spec.invalid_fraction = 0.0;
        spec.cross_conflicts = 0.0;
        spec.clients = ClientMix::default();
        let workload = generate(&spec, &|_| {}).unwrap();
        let tally = replay_all_shards(&workload);
        assert_eq!(tally.aborts + tally.paired, 0, "{tally:?}");
        assert!(tally.commits > 0);
        for shard in &workload.shards {
            assert!(
                shard
                    .cross
                    .iter()
                    .all(|c| c.client == ClientBehaviour::Honest)
            );
        }
    }

    #[test]
    fn pairs_need_two_inputs() {
        let mut spec = cross_spec(3);
        spec.inputs_per_tx = 1;
        spec.outputs_per_tx = 1;
        spec.cross_input_shards = 1;
        spec.cross_conflicts = 1.0;
        let workload = generate(&spec, &|_| {}).unwrap();
        let tally = replay_all_shards(&workload);
        assert_eq!(tally.paired, 0);
        assert!(tally.commits > 0);
    }

    #[test]
    fn cross_shard_stream_without_mature_outputs_is_an_error_not_a_panic() {
        // Few outputs, and none old enough once the genesis ones are gone.
        let mut spec = cross_spec(2);
        spec.accounts = 40;
        spec.utxos_per_account = 3;
        spec.cross_maturity = 10_000;
        spec.txs_per_shard = 2_000;
        let err = generate(&spec, &|_| {}).unwrap_err();
        assert_eq!(err.key, "txs_per_shard");
    }
}
