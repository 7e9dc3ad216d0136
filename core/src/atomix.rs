//! Atomix: cross-shard transactions that commit everywhere or nowhere (PROTOCOL.md §5).
//!
//! A cross-shard transaction ([`CrossTx`]) spends inputs held by one or more *input
//! shards* and creates outputs in the *output shards* of their owners. Shards never send
//! each other a word: the client (or, if the client goes silent, the coordinator) carries
//! proofs between them, and every proof is an entry of a FinalBlock, checked against that
//! block's collective signature. This module is the per-shard state machine, as pure code:
//! every call takes its inputs explicitly and returns the entry the shard must commit.
//!
//! Why one file of about 1,700 lines before its tests: its seams are the transaction and
//! its declaration, entries and their proofs (with the verifier), the shard's state
//! machine, and the coordinator rule with `resolve_with`. The node issue (12) brings the
//! engine's Atomix shard side and coordinator into `core` beside them; the file is split
//! along those seams then, so they are drawn once.
//!
//! # Message flow ([OL]'s client-driven form, PROTOCOL.md §5.5)
//!
//! 1. **Initialize.** The client signs the transaction and declares, per input, the shard
//!    that holds it and its amount ([`DeclaredInput`]); it sends the [`CrossTx`] to every
//!    *named* input shard (a shard the declaration names).
//! 2. **Lock.** Each named input shard `j`, in the order its consensus fixes, runs
//!    [`AtomixShard::lock`]: it checks the part it holds (inputs exist, are unspent,
//!    hold the declared amounts, their owners signed) and decides **once per (tx, j)**:
//!    either its part moves to `LOCKED(tx)` and it commits [`Entry::Lock`], or it commits
//!    [`Entry::Reject`]. Repeating the request returns the same decision and changes
//!    nothing. The entry goes into `j`'s next FinalBlock as a leaf ([`Entry::hash`]) of
//!    the header's `atomix_root`; its [`EntryProof`] (entry, header, certificate, Merkle path) is a
//!    *proof of acceptance* (PoA) for a lock, a *proof of rejection* (PoR) for a reject.
//! 3. **Unlock.**
//!    - Every named shard locked: [`UnlockToCommit`] (the transaction and a PoA from every
//!      named shard) goes to every output shard and every named input shard.
//!      [`AtomixShard::unlock_commit`] verifies every PoA, then spends the shard's locked
//!      part (`LOCKED → SPENT`) and creates the outputs it owns, once per transaction (the
//!      CommittedSet), and commits [`Entry::Commit`].
//!    - Some named shard refused: [`UnlockToAbort`] (a PoR of a named shard, or its lock
//!      under another declaration, see below) goes to every named shard that locked;
//!      [`AtomixShard::unlock_abort`] verifies it, returns the part (`LOCKED → UNSPENT`)
//!      and commits [`Entry::Abort`].
//! 4. **Coordinator** (PROTOCOL.md §5.6). The proofs are public, so anyone can build the
//!    unlock ([`resolve`]). The *coordinator* of a transaction is the shard declared to
//!    hold its smallest input ([`CrossTx::coordinator`]). When no proof about the
//!    transaction appeared for `T_unlock` finalized blocks, the coordinator acts
//!    ([`AtomixShard::coordinate`]): it forwards the transaction to named shards that
//!    never decided, or sends the unlock to the shards that have not applied it.
//!    **[PROPOSAL, extension]** A named shard whose part is still locked acts the same
//!    way after `2·T_unlock` (*backup*): the coordinator may never have seen this
//!    declaration of the transaction (see below), and the backup is then the one party
//!    sure to hold it.
//!
//! # The declaration, and why a lock commits to it
//!
//! Outputs live in the shard of their owner (PROTOCOL.md §1.5), and an outpoint does not
//! name its owner, so which shard holds an input is the client's word; so are the input
//! amounts, which let every input shard check `Σ in ≥ Σ out` (§5.5) so that a set of
//! PoAs always suffices to commit. Neither is covered by the transaction id or the
//! signatures, and a client (or anyone replaying the transaction) may send different
//! declarations to different shards. So a lock entry carries the hash of the declaration
//! it was made under ([`CrossTx::declaration_hash`]), and:
//!
//! - a commit needs a lock **under the same declaration** from every shard that
//!   declaration names. A lock means its shard holds the inputs declared there (an
//!   outpoint is held by one shard only), so a commit has every input locked by the
//!   shard that holds it;
//! - abort evidence against a lock made under declaration `D` is a decision of a shard
//!   named by `D` other than a lock under `D`: a reject (PoR), or a lock under another
//!   declaration. Decisions are unique per (tx, shard), so such a decision shows that no
//!   commit under `D` can ever be assembled — and a commit under any other declaration
//!   needs a lock under it from this shard, which it never gave.
//!
//! Every named shard eventually decides (the coordinator or a backup forwards the
//! transaction), so every lock is resolved: all named shards lock under `D` (commit) or
//! one does not (abort evidence).
//!
//! # Invariants (PROTOCOL.md §5.7) and where they are kept
//!
//! - **A1 atomicity**: outputs are created only with a PoA from every named shard (all
//!   inputs locked), and a shard returns its part only on abort evidence, which cannot
//!   exist once all named shards locked under one declaration (above).
//! - **A2 exclusivity**: a lock moves unspent outputs only ([`UtxoSet::lock_inputs`]);
//!   a locked output is held by one transaction until that transaction commits or aborts.
//! - **A3 proof uniqueness**: [`AtomixShard::lock`] records one decision per (tx, shard)
//!   and returns it unchanged to every later request.
//! - **A4**: [`AtomixShard::unlock_commit`] refuses without a PoA from every named shard
//!   ([`AtomixError::MissingPoa`]); [`AtomixShard::unlock_abort`] refuses without abort
//!   evidence ([`AtomixError::NotAbortEvidence`]).
//! - **A5 idempotence**: outputs are created once per transaction (CommittedSet), a part
//!   is spent or returned once; replays return `Already…` and change nothing.
//! - **A6 value conservation**: a committed transaction exports its locked inputs from
//!   the input shards and creates outputs worth at most that much (the rest is the fee);
//!   each [`UtxoSet`] keeps its own books (`unspent + locked + fees + exported = created`).
//! - **A7 liveness**: the coordinator and backup rules above.
//! - **A8**: a proof carries a [`FinalCertificate`] (the cosignature of a FinalBlock
//!   header); OptBlocks cannot be proven into.
//!
//! Safety assumes each shard's roster has fewer than a third Byzantine members (a bad
//! roster can sign contradicting entries, §5.8); [`AtomixError::Conflict`] reports valid
//! proofs that contradict this shard's own state.
//!
//! # Effects the engine performs
//!
//! - Signatures: the engine verifies the witnesses of [`CrossTx::witnesses_of`] its shard
//!   (in its batches) and passes the verdict as [`Signatures`]
//!   ([`CrossTx::check_signatures`] does it one by one).
//! - Entries: a [`Decided`] with `fresh` set, a [`CommitOutcome::Applied`] or an
//!   [`AbortOutcome::Applied`] carries an entry to commit into the shard's next
//!   FinalBlock; [`atomix_root`] gives the header's root and [`block_proofs`] the proofs once
//!   the block is certified.
//! - Proofs from other shards go through one [`ProofVerifier`] per shard, which checks
//!   each FinalBlock certificate once and then only Merkle paths.
//! - Order: the engine calls [`AtomixShard::lock`] and the unlocks in the order its
//!   FinalBlock lists their entries, so a decision is final exactly when its block is.
//! - State grows by one decision per transaction an input shard decided on, and the
//!   CommittedSet by one id per commit; forgetting them needs a horizon after which
//!   requests for a transaction are refused outright (not defined yet), since a forgotten
//!   decision would be taken afresh.
//!
//! Griefing, not theft: whoever sees a transaction first can send a shard a copy with a
//! corrupted signature or another declaration; the shard's one decision then makes the
//! transaction abort (inputs are returned, never lost or double spent). Deciding on the
//! first copy is what lets a shard refuse a transaction whose owner never signed, so the
//! coordinator can always finish.
//!
//! # Glossary
//!
//! **lock**: an input shard's decision to hold its part for a transaction (`LOCKED(tx)`);
//! **PoA** (proof of acceptance): proof of a lock entry; **PoR** (proof of rejection):
//! proof of a reject entry; **unlock-to-commit**: the message that makes output shards
//! create outputs and input shards spend their locked parts; **unlock-to-abort**: the
//! message that makes input shards return their locked parts; **part**: the inputs of a
//! transaction declared in one shard; **named shard**: a shard the declaration names.

use std::collections::VecDeque;

use rustc_hash::{FxHashMap, FxHashSet};
use thiserror::Error;

use crate::block::{BlockHeader, FinalCertificate};
use crate::codec::{Decode, DecodeError, Encode, Reader, put_count};
use crate::crypto::cosi::{CosiError, Roster};
use crate::crypto::hash::Domain;
use crate::crypto::sig::{KeyCache, verify_one};
use crate::merkle::{self, MerkleProof};
use crate::tx::{Rejection, TX_INPUTS_MAX, Transaction, Witness};
use crate::types::{Amount, Epoch, Hash, Height, OutPoint, Owner, ShardId, TxId};
use crate::utxo::{UtxoError, UtxoSet, UtxoState};

// ---------------------------------------------------------------------------------------
// The cross-shard transaction.

/// Where the client says an input is, and what it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeclaredInput {
    /// The shard that holds the input.
    pub shard: ShardId,
    /// The input's amount.
    pub amount: Amount,
}

/// A transaction whose inputs may sit in several shards: the signed transaction and,
/// per input in order, its [`DeclaredInput`]. Its id is the transaction id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrossTx {
    /// The signed transaction.
    pub tx: Transaction,
    /// One declaration per input of `tx`, in the same order.
    pub declared: Vec<DeclaredInput>,
}

/// Why a [`CrossTx`] is malformed (checkable by anyone, without state).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum CrossTxError {
    /// The transaction itself fails its structural checks.
    #[error("transaction: {0}")]
    Tx(Rejection),
    /// Not one declaration per input.
    #[error("{declared} inputs declared for {inputs} inputs")]
    DeclarationLength {
        /// Inputs of the transaction.
        inputs: usize,
        /// Declarations.
        declared: usize,
    },
    /// A declared shard does not exist.
    #[error("input {index} declared in shard {shard}, of {shard_count} shards")]
    ShardOutOfRange {
        /// The input's position.
        index: usize,
        /// The declared shard.
        shard: ShardId,
        /// Shards in the system.
        shard_count: u32,
    },
    /// The declared input amounts overflow when summed.
    #[error("declared input amounts overflow")]
    AmountOverflow,
    /// The declared inputs do not cover the outputs.
    #[error("declared inputs {inputs:?} do not cover outputs {outputs:?}")]
    Overspend {
        /// Sum of the declared input amounts.
        inputs: Amount,
        /// Sum of the outputs.
        outputs: Amount,
    },
    /// A witness whose owner's shard holds no declared input: it can own no input.
    #[error("{owner:?} signed, but its shard {shard} holds no declared input")]
    UnusedWitness {
        /// The witness's owner.
        owner: Owner,
        /// The owner's shard.
        shard: ShardId,
    },
}

/// The declared value of a well-formed [`CrossTx`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Balance {
    /// Sum of the declared input amounts.
    pub inputs: Amount,
    /// Sum of the outputs.
    pub outputs: Amount,
}

impl Balance {
    /// `inputs − outputs` (a checked balance has `inputs ≥ outputs`).
    pub fn fee(&self) -> Amount {
        self.inputs
            .checked_sub(self.outputs)
            .unwrap_or(Amount::ZERO)
    }
}

/// The verdict on the signatures of [`CrossTx::witnesses_of`] a shard over the
/// transaction id, as the engine's batch verification found it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signatures {
    /// Every one verifies.
    Valid,
    /// This owner's signature does not verify (or its key is not a curve point).
    Bad {
        /// The owner.
        owner: Owner,
    },
}

impl CrossTx {
    /// The transaction id.
    pub fn id(&self) -> TxId {
        self.tx.id()
    }

    /// `H(AtomixDeclaration ‖ id ‖ count ‖ (shard, amount)…)`: what a lock entry commits
    /// to. `id` must be `self.id()` (computed once by the caller).
    pub fn declaration_hash(&self, id: TxId) -> Hash {
        let mut hasher = Domain::AtomixDeclaration.hasher();
        hasher.update(&id.0.0);
        hasher.update(&(self.declared.len() as u64).to_le_bytes());
        for declared in &self.declared {
            hasher.update(&declared.shard.0.to_le_bytes());
            hasher.update(&declared.amount.0.to_le_bytes());
        }
        Hash(*hasher.finalize().as_bytes())
    }

    /// The checks anyone can make without state: the transaction's structure, one
    /// declaration per input in an existing shard, declared inputs covering the outputs,
    /// and every witness's owner in a named shard. `shard_count` must be at least 1.
    pub fn check(&self, shard_count: u32) -> Result<Balance, CrossTxError> {
        let outputs = self.tx.check_structure().map_err(CrossTxError::Tx)?;
        if self.declared.len() != self.tx.inputs.len() {
            return Err(CrossTxError::DeclarationLength {
                inputs: self.tx.inputs.len(),
                declared: self.declared.len(),
            });
        }
        let mut inputs = Amount::ZERO;
        for (index, declared) in self.declared.iter().enumerate() {
            if declared.shard.0 >= shard_count {
                return Err(CrossTxError::ShardOutOfRange {
                    index,
                    shard: declared.shard,
                    shard_count,
                });
            }
            inputs = inputs
                .checked_add(declared.amount)
                .ok_or(CrossTxError::AmountOverflow)?;
        }
        for witness in &self.tx.witnesses {
            let shard = witness.owner.shard(shard_count);
            if !self.declared.iter().any(|d| d.shard == shard) {
                return Err(CrossTxError::UnusedWitness {
                    owner: witness.owner,
                    shard,
                });
            }
        }
        if inputs < outputs {
            return Err(CrossTxError::Overspend { inputs, outputs });
        }
        Ok(Balance { inputs, outputs })
    }

    /// The named input shards, sorted, each once.
    pub fn input_shards(&self) -> Vec<ShardId> {
        let mut shards: Vec<ShardId> = self.declared.iter().map(|d| d.shard).collect();
        shards.sort_unstable();
        shards.dedup();
        shards
    }

    /// The shards that own outputs, sorted, each once.
    pub fn output_shards(&self, shard_count: u32) -> Vec<ShardId> {
        let mut shards: Vec<ShardId> = self
            .tx
            .outputs
            .iter()
            .map(|o| o.owner.shard(shard_count))
            .collect();
        shards.sort_unstable();
        shards.dedup();
        shards
    }

    /// The input and output shards, sorted, each once: where an unlock-to-commit goes.
    pub fn involved_shards(&self, shard_count: u32) -> Vec<ShardId> {
        let mut shards = self.input_shards();
        shards.extend(self.output_shards(shard_count));
        shards.sort_unstable();
        shards.dedup();
        shards
    }

    /// The inputs declared in `shard` (its *part*), with their declarations.
    pub fn part(&self, shard: ShardId) -> impl Iterator<Item = (&OutPoint, &DeclaredInput)> {
        self.tx
            .inputs
            .iter()
            .zip(&self.declared)
            .filter(move |(_, d)| d.shard == shard)
    }

    /// The declared value of `shard`'s part (saturating; a checked declaration does not
    /// overflow).
    pub fn part_value(&self, shard: ShardId) -> Amount {
        Amount(
            self.part(shard)
                .fold(0u64, |sum, (_, d)| sum.saturating_add(d.amount.0)),
        )
    }

    /// The coordinator (PROTOCOL.md §5.6): the shard declared to hold the smallest input
    /// outpoint. `None` without inputs or declarations.
    pub fn coordinator(&self) -> Option<ShardId> {
        self.tx
            .inputs
            .iter()
            .zip(&self.declared)
            .min_by_key(|(outpoint, _)| **outpoint)
            .map(|(_, d)| d.shard)
    }

    /// The witnesses whose owners live in `shard`: the ones `shard` needs verified to
    /// lock its part (an output sits in its owner's shard).
    pub fn witnesses_of(&self, shard: ShardId, shard_count: u32) -> impl Iterator<Item = &Witness> {
        self.tx
            .witnesses
            .iter()
            .filter(move |w| w.owner.shard(shard_count) == shard)
    }

    /// Verifies [`CrossTx::witnesses_of`] `shard` one by one (the engine batches
    /// instead and passes its verdict).
    pub fn check_signatures(
        &self,
        shard: ShardId,
        shard_count: u32,
        keys: &mut KeyCache,
    ) -> Signatures {
        let id = self.id();
        for witness in self.witnesses_of(shard, shard_count) {
            let valid = keys
                .get(&witness.owner)
                .is_some_and(|key| verify_one(&key, &id.0.0, &witness.signature));
            if !valid {
                return Signatures::Bad {
                    owner: witness.owner,
                };
            }
        }
        Signatures::Valid
    }
}

const DECLARED_LEN: usize = 12;

impl Encode for CrossTx {
    /// Layout: the transaction, `u16 n`, `n × (shard u32, amount u64)`.
    fn encode(&self, out: &mut Vec<u8>) {
        self.tx.encode(out);
        put_count(out, self.declared.len());
        for declared in &self.declared {
            declared.shard.encode(out);
            declared.amount.encode(out);
        }
    }
}

impl Decode for CrossTx {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let tx = Transaction::decode(reader)?;
        let n = reader.count("declared inputs", TX_INPUTS_MAX, DECLARED_LEN)?;
        let mut declared = Vec::with_capacity(n);
        for _ in 0..n {
            declared.push(DeclaredInput {
                shard: ShardId::decode(reader)?,
                amount: Amount::decode(reader)?,
            });
        }
        Ok(CrossTx { tx, declared })
    }
}

// ---------------------------------------------------------------------------------------
// Entries.

/// Why an input shard refused to lock its part (the reason of a reject entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Refusal {
    /// An input declared here does not exist here (never did, was pruned after being
    /// spent, or is held elsewhere).
    UnknownInput,
    /// An input declared here is spent.
    DoubleSpend,
    /// An input declared here is locked by another cross-shard transaction.
    InputLocked,
    /// An input's owner has no witness, or a witness of this shard owns no input here.
    WrongWitness,
    /// A witness of this shard does not verify.
    BadSignature,
    /// An input declared here holds another amount than declared.
    Misdeclared,
}

impl Refusal {
    /// Every refusal, in code order (for tables and counters).
    pub const ALL: [Refusal; 6] = [
        Refusal::UnknownInput,
        Refusal::DoubleSpend,
        Refusal::InputLocked,
        Refusal::WrongWitness,
        Refusal::BadSignature,
        Refusal::Misdeclared,
    ];

    /// A stable snake_case name (for run output).
    pub const fn as_str(self) -> &'static str {
        match self {
            Refusal::UnknownInput => "unknown_input",
            Refusal::DoubleSpend => "double_spend",
            Refusal::InputLocked => "input_locked",
            Refusal::WrongWitness => "wrong_witness",
            Refusal::BadSignature => "bad_signature",
            Refusal::Misdeclared => "misdeclared",
        }
    }

    const fn code(self) -> u8 {
        self as u8
    }

    fn from_code(code: u8) -> Option<Refusal> {
        Refusal::ALL.get(usize::from(code)).copied()
    }

    fn of(rejection: &Rejection) -> Refusal {
        match rejection {
            Rejection::UnknownInput { .. } => Refusal::UnknownInput,
            Rejection::DoubleSpend { .. } => Refusal::DoubleSpend,
            Rejection::InputLocked { .. } => Refusal::InputLocked,
            _ => Refusal::Misdeclared,
        }
    }
}

/// A cross-shard entry of a FinalBlock: a leaf of its header's `atomix_root`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// Input shard `shard` locked its part of `tx` (worth `value`) under the declaration
    /// with hash `declaration`. Its proof is a PoA.
    Lock {
        /// The transaction.
        tx: TxId,
        /// The input shard.
        shard: ShardId,
        /// Sum of the inputs locked.
        value: Amount,
        /// [`CrossTx::declaration_hash`] of the declaration locked under.
        declaration: Hash,
    },
    /// Input shard `shard` refused to lock its part of `tx`. Its proof is a PoR.
    Reject {
        /// The transaction.
        tx: TxId,
        /// The input shard.
        shard: ShardId,
        /// Why.
        reason: Refusal,
    },
    /// `shard` applied the unlock-to-commit of `tx`: spent its locked part (input shard)
    /// and created the outputs it owns (output shard).
    Commit {
        /// The transaction.
        tx: TxId,
        /// The shard.
        shard: ShardId,
    },
    /// Input shard `shard` applied the unlock-to-abort of `tx`: returned its part.
    Abort {
        /// The transaction.
        tx: TxId,
        /// The input shard.
        shard: ShardId,
    },
}

const TAG_LOCK: u8 = 1;
const TAG_REJECT: u8 = 2;
const TAG_COMMIT: u8 = 3;
const TAG_ABORT: u8 = 4;

impl Entry {
    /// Largest encoding (a lock): tag, tx, shard, value, declaration.
    pub const ENCODED_LEN_MAX: usize = 1 + 32 + 4 + 8 + 32;

    /// The transaction.
    pub fn tx(&self) -> TxId {
        match *self {
            Entry::Lock { tx, .. }
            | Entry::Reject { tx, .. }
            | Entry::Commit { tx, .. }
            | Entry::Abort { tx, .. } => tx,
        }
    }

    /// The shard that commits the entry.
    pub fn shard(&self) -> ShardId {
        match *self {
            Entry::Lock { shard, .. }
            | Entry::Reject { shard, .. }
            | Entry::Commit { shard, .. }
            | Entry::Abort { shard, .. } => shard,
        }
    }

    /// A stable name of the kind (for errors and counters).
    pub const fn kind(&self) -> &'static str {
        match self {
            Entry::Lock { .. } => "lock",
            Entry::Reject { .. } => "reject",
            Entry::Commit { .. } => "commit",
            Entry::Abort { .. } => "abort",
        }
    }

    fn write(&self, buf: &mut [u8; Self::ENCODED_LEN_MAX]) -> usize {
        let tag = match self {
            Entry::Lock { .. } => TAG_LOCK,
            Entry::Reject { .. } => TAG_REJECT,
            Entry::Commit { .. } => TAG_COMMIT,
            Entry::Abort { .. } => TAG_ABORT,
        };
        buf[0] = tag;
        buf[1..33].copy_from_slice(&self.tx().0.0);
        buf[33..37].copy_from_slice(&self.shard().0.to_le_bytes());
        match self {
            Entry::Lock {
                value, declaration, ..
            } => {
                buf[37..45].copy_from_slice(&value.0.to_le_bytes());
                buf[45..77].copy_from_slice(&declaration.0);
                77
            }
            Entry::Reject { reason, .. } => {
                buf[37] = reason.code();
                38
            }
            Entry::Commit { .. } | Entry::Abort { .. } => 37,
        }
    }

    /// `H(AtomixEntry ‖ encoding)`: the entry's leaf in `atomix_root`.
    pub fn hash(&self) -> Hash {
        let mut buf = [0u8; Self::ENCODED_LEN_MAX];
        let len = self.write(&mut buf);
        Domain::AtomixEntry.hash(&buf[..len])
    }
}

impl Encode for Entry {
    /// Layout: `tag u8, tx 32, shard u32`, then for a lock `value u64, declaration 32`,
    /// for a reject `reason u8`.
    fn encode(&self, out: &mut Vec<u8>) {
        let mut buf = [0u8; Self::ENCODED_LEN_MAX];
        let len = self.write(&mut buf);
        out.extend_from_slice(&buf[..len]);
    }
}

impl Decode for Entry {
    fn decode(reader: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let tag = reader.u8("entry kind")?;
        if !(TAG_LOCK..=TAG_ABORT).contains(&tag) {
            return Err(DecodeError::Invalid { what: "entry kind" });
        }
        let tx = TxId::decode(reader)?;
        let shard = ShardId::decode(reader)?;
        Ok(match tag {
            TAG_LOCK => Entry::Lock {
                tx,
                shard,
                value: Amount::decode(reader)?,
                declaration: Hash::decode(reader)?,
            },
            TAG_REJECT => Entry::Reject {
                tx,
                shard,
                reason: Refusal::from_code(reader.u8("refusal")?)
                    .ok_or(DecodeError::Invalid { what: "refusal" })?,
            },
            TAG_COMMIT => Entry::Commit { tx, shard },
            _ => Entry::Abort { tx, shard },
        })
    }
}

/// The `atomix_root` of a block whose cross-shard entries are `entries`, in order
/// ([`Hash::ZERO`] for none, as for a block without Atomix entries).
pub fn atomix_root(entries: &[Entry]) -> Hash {
    if entries.is_empty() {
        return Hash::ZERO;
    }
    let leaves: Vec<Hash> = entries.iter().map(Entry::hash).collect();
    merkle::root(&leaves)
}

/// The proofs of every entry of a certified block whose header's `atomix_root` is over
/// `entries` (a caller bug otherwise, which debug builds catch). All paths come from one
/// pass over the tree ([`merkle::prove_all`]).
pub fn block_proofs(
    header: &BlockHeader,
    certificate: &FinalCertificate,
    entries: &[Entry],
) -> Vec<EntryProof> {
    let leaves: Vec<Hash> = entries.iter().map(Entry::hash).collect();
    // A caller bug, checked in debug builds (the caller just computed the root).
    debug_assert_eq!(
        header.atomix_root,
        if leaves.is_empty() {
            Hash::ZERO
        } else {
            merkle::root(&leaves)
        },
        "the header's atomix_root is not over these entries"
    );
    entries
        .iter()
        .zip(merkle::prove_all(&leaves))
        .map(|(entry, path)| EntryProof {
            entry: *entry,
            header: *header,
            certificate: certificate.clone(),
            path,
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Proofs and their verification.

/// A proof that a shard committed an entry in a final block: the entry, the FinalBlock
/// header, its certificate and the Merkle path of the entry's hash to `header.atomix_root`.
/// A proof of a lock is a PoA, of a reject a PoR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryProof {
    /// The entry.
    pub entry: Entry,
    /// The header of the final block that holds it.
    pub header: BlockHeader,
    /// The block's certificate.
    pub certificate: FinalCertificate,
    /// Path of [`Entry::hash`] to `header.atomix_root`.
    pub path: MerkleProof,
}

/// Why a [`EntryProof`] does not verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum ProofError {
    /// The entry names another shard than the block's.
    #[error("entry of shard {entry} in a block of shard {block}")]
    WrongShard {
        /// The entry's shard.
        entry: ShardId,
        /// The block's shard.
        block: ShardId,
    },
    /// The path does not lead from the entry to the header's `atomix_root`.
    #[error("the Merkle path does not lead from the entry to the block's atomix_root")]
    PathMismatch,
    /// The certificate is for another header.
    #[error("the certificate is for another header")]
    CertificateMismatch,
    /// No roster is known for the block's shard, epoch and height.
    #[error("no roster known for shard {shard} at height {height} of epoch {epoch}")]
    UnknownRoster {
        /// The block's shard.
        shard: ShardId,
        /// The block's epoch.
        epoch: Epoch,
        /// The block's height.
        height: Height,
    },
    /// The collective signature does not verify under the roster.
    #[error("certificate: {0}")]
    BadCosig(CosiError),
}

impl EntryProof {
    /// The checks without a signature: entry in the block's shard, certificate for this
    /// header, path to `atomix_root`. Returns the header hash.
    fn check_inclusion(&self) -> Result<Hash, ProofError> {
        if self.entry.shard() != self.header.shard {
            return Err(ProofError::WrongShard {
                entry: self.entry.shard(),
                block: self.header.shard,
            });
        }
        let header_hash = self.header.hash();
        if self.certificate.header_hash != header_hash {
            return Err(ProofError::CertificateMismatch);
        }
        if !self
            .path
            .verify(&self.header.atomix_root, &self.entry.hash())
        {
            return Err(ProofError::PathMismatch);
        }
        Ok(header_hash)
    }

    /// Verifies the proof under `roster`, which must be the roster of the block's shard
    /// in force at the block's epoch and height (see [`ProofVerifier`] for the cached
    /// form).
    pub fn verify(&self, roster: &Roster) -> Result<(), ProofError> {
        let header_hash = self.check_inclusion()?;
        self.certificate
            .cosig
            .verify(roster, &header_hash.0)
            .map_err(ProofError::BadCosig)
    }

    /// Reads a proof; the certificate's length follows from the roster in force at the
    /// header's shard, epoch and height in `rosters`.
    pub fn decode(reader: &mut Reader<'_>, rosters: &impl Rosters) -> Result<Self, DecodeError> {
        let entry = Entry::decode(reader)?;
        let header = BlockHeader::decode(reader)?;
        let roster = rosters
            .roster(header.shard, header.epoch, header.height)
            .ok_or(DecodeError::Invalid {
                what: "proof block (no roster for its shard, epoch and height)",
            })?;
        let certificate = FinalCertificate::decode(reader, roster.len())?;
        let path = MerkleProof::decode(reader)?;
        Ok(EntryProof {
            entry,
            header,
            certificate,
            path,
        })
    }

    /// Decodes exactly one proof from `bytes`.
    pub fn from_bytes(bytes: &[u8], rosters: &impl Rosters) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(bytes);
        let proof = Self::decode(&mut reader, rosters)?;
        reader.finish()?;
        Ok(proof)
    }
}

impl Encode for EntryProof {
    /// Layout: entry, header (152 bytes), certificate (`32 + 64 + ⌈n/8⌉` bytes for a
    /// roster of `n`), path.
    fn encode(&self, out: &mut Vec<u8>) {
        self.entry.encode(out);
        self.header.encode(out);
        self.certificate.encode(out);
        self.path.encode(out);
    }
}

/// The rosters proofs are checked against: the roster in force in a shard at an epoch and
/// height (keep the previous epoch's rosters: a proof is checked against the roster that
/// signed its block, PROTOCOL.md §5.8; within an epoch TransEpoch changes a shard's roster
/// at the heights of its `RosterChange` blocks, §4.3 T2).
pub trait Rosters {
    /// The roster of `shard` in force at `height` of `epoch`, if known.
    fn roster(&self, shard: ShardId, epoch: Epoch, height: Height) -> Option<&Roster>;
}

/// A plain map of rosters by shard and epoch, each with the heights its rosters are in
/// force from.
#[derive(Clone, Debug, Default)]
pub struct RosterBook {
    /// Per shard and epoch: `(first height in force, roster)`, ascending by height.
    rosters: FxHashMap<(ShardId, Epoch), Vec<(Height, Roster)>>,
}

impl RosterBook {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the roster of `shard` in `epoch`, in force at every height (replacing what
    /// was recorded before for that shard and epoch).
    pub fn insert(&mut self, shard: ShardId, epoch: Epoch, roster: Roster) {
        self.rosters
            .insert((shard, epoch), vec![(Height(0), roster)]);
    }

    /// Records that `roster` is in force in `shard` from `height` of `epoch` on (a
    /// TransEpoch `RosterChange` final at `height − 1`). Heights must ascend within an
    /// epoch; a height at or below the last one recorded replaces the rosters from it.
    pub fn insert_from(&mut self, shard: ShardId, epoch: Epoch, height: Height, roster: Roster) {
        let list = self.rosters.entry((shard, epoch)).or_default();
        list.retain(|(from, _)| *from < height);
        list.push((height, roster));
    }

    /// Forgets the rosters of epochs before `epoch`.
    pub fn retain_from(&mut self, epoch: Epoch) {
        self.rosters.retain(|(_, e), _| *e >= epoch);
    }
}

impl Rosters for RosterBook {
    fn roster(&self, shard: ShardId, epoch: Epoch, height: Height) -> Option<&Roster> {
        let list = self.rosters.get(&(shard, epoch))?;
        let i = list.partition_point(|(from, _)| *from <= height);
        i.checked_sub(1).map(|i| &list[i].1)
    }
}

/// Default number of certified headers a [`ProofVerifier`] remembers.
pub const VERIFIED_HEADERS_MAX: usize = 4096;

/// Counts of a [`ProofVerifier`]'s work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VerifierStats {
    /// Collective signatures verified (one per distinct certified header, until evicted).
    pub cosigs_verified: u64,
    /// Proofs whose header was already known certified (no signature check).
    pub cosigs_cached: u64,
    /// Proofs that verified.
    pub proofs_verified: u64,
}

/// Verifies proofs, checking each FinalBlock certificate once: after a header's
/// certificate verified, later proofs into the same block cost a Merkle path.
///
/// The cache is keyed by the header hash, which binds the shard and the epoch, hence the
/// roster; a header with one valid certificate is final, so a later proof into it needs
/// no certificate of its own to be checked again. Only verified headers are cached, the
/// oldest evicted first beyond the capacity.
#[derive(Debug)]
pub struct ProofVerifier {
    certified: FxHashSet<Hash>,
    order: VecDeque<Hash>,
    capacity: usize,
    stats: VerifierStats,
}

impl Default for ProofVerifier {
    fn default() -> Self {
        Self::new(VERIFIED_HEADERS_MAX)
    }
}

impl ProofVerifier {
    /// A verifier remembering up to `capacity` (at least 1) certified headers.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        ProofVerifier {
            certified: FxHashSet::with_capacity_and_hasher(capacity, Default::default()),
            order: VecDeque::with_capacity(capacity),
            capacity,
            stats: VerifierStats::default(),
        }
    }

    /// Verifies `proof` against the roster in force at its block's shard, epoch and height
    /// in `rosters`.
    pub fn verify(&mut self, proof: &EntryProof, rosters: &impl Rosters) -> Result<(), ProofError> {
        let header_hash = proof.check_inclusion()?;
        if self.certified.contains(&header_hash) {
            self.stats.cosigs_cached += 1;
        } else {
            let roster = rosters
                .roster(proof.header.shard, proof.header.epoch, proof.header.height)
                .ok_or(ProofError::UnknownRoster {
                    shard: proof.header.shard,
                    epoch: proof.header.epoch,
                    height: proof.header.height,
                })?;
            self.stats.cosigs_verified += 1;
            proof
                .certificate
                .cosig
                .verify(roster, &header_hash.0)
                .map_err(ProofError::BadCosig)?;
            if self.order.len() == self.capacity
                && let Some(oldest) = self.order.pop_front()
            {
                self.certified.remove(&oldest);
            }
            self.certified.insert(header_hash);
            self.order.push_back(header_hash);
        }
        self.stats.proofs_verified += 1;
        Ok(())
    }

    /// The work done so far.
    pub fn stats(&self) -> VerifierStats {
        self.stats
    }
}

// ---------------------------------------------------------------------------------------
// Messages.

/// Unlock-to-commit: the transaction and a PoA from every named input shard. Goes to
/// every output shard and every named input shard ([`CrossTx::involved_shards`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnlockToCommit {
    /// The transaction, with the declaration the PoAs were made under.
    pub xtx: CrossTx,
    /// One PoA per named input shard (any order).
    pub poas: Vec<EntryProof>,
}

/// Unlock-to-abort: abort evidence for a transaction — a PoR of a named input shard, or
/// a PoA of a named shard under another declaration. Goes to the named input shards
/// that locked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnlockToAbort {
    /// The transaction.
    pub tx: TxId,
    /// The evidence.
    pub evidence: EntryProof,
}

// ---------------------------------------------------------------------------------------
// The shard's state machine.

/// Where a locked part stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockState {
    /// Locked, awaiting an unlock.
    Pending,
    /// Spent by the unlock-to-commit.
    Committed,
    /// Returned by the unlock-to-abort.
    Aborted,
}

/// An input shard's one decision on a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The transaction as first received (the declaration decided on).
    pub xtx: CrossTx,
    /// The lock or reject entry.
    pub entry: Entry,
    /// For a lock, where its part stands; `None` for a reject.
    pub lock: Option<LockState>,
}

/// The answer to a lock request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decided {
    /// The shard's decision: a lock or a reject entry.
    pub entry: Entry,
    /// Whether it was decided now: the engine commits `entry` into the shard's next
    /// FinalBlock. A repeated request gets the earlier decision with `fresh == false`.
    pub fresh: bool,
}

/// The result of an unlock-to-commit at one shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitOutcome {
    /// Applied now: commit `entry` into the shard's next FinalBlock.
    Applied {
        /// The commit entry.
        entry: Entry,
        /// Value of this shard's locked part, now spent (zero for an output shard only).
        spent: Amount,
        /// Value of the outputs created here.
        created: Amount,
        /// The transaction's fee, `Σ locked − Σ outputs` (the same at every shard:
        /// count it once per transaction).
        fee: Amount,
    },
    /// Applied before: nothing changed.
    AlreadyCommitted,
    /// This shard neither holds a part nor owns an output: nothing changed.
    NotInvolved,
}

/// The result of an unlock-to-abort at one shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbortOutcome {
    /// Applied now: commit `entry` into the shard's next FinalBlock.
    Applied {
        /// The abort entry.
        entry: Entry,
        /// Value returned to unspent.
        returned: Amount,
    },
    /// Applied before: nothing changed.
    AlreadyAborted,
    /// This shard holds no lock for the transaction (never asked, refused, or not an
    /// input shard): nothing changed.
    NotLocked,
}

/// Why a lock request or an unlock was refused. Nothing changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum AtomixError {
    /// The cross-shard transaction is malformed.
    #[error("malformed cross-shard transaction: {0}")]
    CrossTx(#[from] CrossTxError),
    /// A lock request to a shard the declaration does not name.
    #[error("no input of {tx:?} is declared in shard {shard}")]
    NotInputShard {
        /// The transaction.
        tx: TxId,
        /// This shard.
        shard: ShardId,
    },
    /// A proof does not verify.
    #[error("proof from shard {shard}: {error}")]
    Proof {
        /// The shard the proof's entry names.
        shard: ShardId,
        /// What failed.
        error: ProofError,
    },
    /// A proof of another transaction.
    #[error("proof is for {got:?}, not {expected:?}")]
    WrongTx {
        /// The transaction being unlocked.
        expected: TxId,
        /// The proof's transaction.
        got: TxId,
    },
    /// A proof from a shard the declaration does not name.
    #[error("proof from shard {shard}, which {tx:?} does not name as an input shard")]
    ShardNotNamed {
        /// The transaction.
        tx: TxId,
        /// The proof's shard.
        shard: ShardId,
    },
    /// No PoA from a named input shard.
    #[error("no proof of acceptance from input shard {shard}")]
    MissingPoa {
        /// The shard.
        shard: ShardId,
    },
    /// Two proofs from one shard.
    #[error("two proofs from shard {shard}")]
    DuplicateProof {
        /// The shard.
        shard: ShardId,
    },
    /// A proof offered as a PoA is not of a lock.
    #[error("the proof from shard {shard} is of a {kind} entry, not a lock")]
    NotPoa {
        /// The shard.
        shard: ShardId,
        /// The entry's kind.
        kind: &'static str,
    },
    /// A PoA made under another declaration of the transaction.
    #[error("shard {shard} locked under another declaration of the transaction")]
    DeclarationMismatch {
        /// The shard.
        shard: ShardId,
    },
    /// A PoA whose locked value is not the declared value of its part.
    #[error("shard {shard} locked {locked:?}, its declared part is {declared:?}")]
    ValueMismatch {
        /// The shard.
        shard: ShardId,
        /// The declared value of its part.
        declared: Amount,
        /// The value its lock entry states.
        locked: Amount,
    },
    /// The proof offered for an abort shows no refusal: a lock under this shard's own
    /// declaration, or a commit or abort entry.
    #[error("the {kind} entry of shard {shard} is no abort evidence")]
    NotAbortEvidence {
        /// The proof's shard.
        shard: ShardId,
        /// The entry's kind.
        kind: &'static str,
    },
    /// Valid proofs contradict this shard's own state: only a roster with a third or
    /// more Byzantine members, or a lost state, can cause this.
    #[error("{tx:?}: valid proofs contradict this shard's state: {detail}")]
    Conflict {
        /// The transaction.
        tx: TxId,
        /// What contradicts what.
        detail: &'static str,
    },
    /// The UTXO set passed in is out of step with this state machine.
    #[error("UTXO set out of step with the Atomix state: {0}")]
    Utxo(#[from] UtxoError),
}

/// Who acts for a stuck transaction (PROTOCOL.md §5.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The shard declared to hold the smallest input: acts after `T_unlock`.
    Coordinator,
    /// Another named shard whose part is still locked: acts after `2·T_unlock`.
    Backup,
}

impl Role {
    /// Whether a shard in this role must act, `blocks_since_last_proof` finalized blocks
    /// after the last proof about the transaction appeared (or after it last acted).
    pub fn due(self, blocks_since_last_proof: u64, t_unlock: u64) -> bool {
        match self {
            Role::Coordinator => blocks_since_last_proof >= t_unlock,
            Role::Backup => blocks_since_last_proof >= t_unlock.saturating_mul(2),
        }
    }
}

/// What is left to do for a transaction, given the proofs published about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Every shard that must apply an unlock has published that it did.
    Done,
    /// Named input shards that never decided: send them the transaction.
    Forward {
        /// The transaction.
        xtx: CrossTx,
        /// The undecided shards.
        to: Vec<ShardId>,
    },
    /// Every named shard locked: send the unlock-to-commit to `to` (the involved shards
    /// without a published commit entry).
    Commit {
        /// The message.
        unlock: UnlockToCommit,
        /// Where to send it.
        to: Vec<ShardId>,
    },
    /// A named shard refused: send the unlock-to-abort to `to` (the named shards that
    /// locked under this declaration and published no abort entry).
    Abort {
        /// The message (boxed: it carries a whole proof).
        unlock: Box<UnlockToAbort>,
        /// Where to send it.
        to: Vec<ShardId>,
    },
}

/// Builds the unlock for `xtx` from published `proofs` (the client's logic, and the
/// coordinator's): proofs that do not verify or are about other transactions are
/// ignored. Abort evidence wins over missing decisions; a commit needs a PoA under this
/// declaration from every named shard.
pub fn resolve<'a>(
    xtx: &CrossTx,
    shard_count: u32,
    proofs: impl IntoIterator<Item = &'a EntryProof>,
    verifier: &mut ProofVerifier,
    rosters: &impl Rosters,
) -> Resolution {
    resolve_with(xtx, shard_count, proofs, |proof| {
        verifier.verify(proof, rosters).is_ok()
    })
}

/// [`resolve`] with `accept` deciding which proofs count (a client forwarding proofs
/// as the shards published them may accept them unchecked: every shard verifies the
/// proofs it acts on).
pub fn resolve_with<'a>(
    xtx: &CrossTx,
    shard_count: u32,
    proofs: impl IntoIterator<Item = &'a EntryProof>,
    mut accept: impl FnMut(&EntryProof) -> bool,
) -> Resolution {
    let id = xtx.id();
    let declaration = xtx.declaration_hash(id);
    let named = xtx.input_shards();
    let mut poas: Vec<Option<&EntryProof>> = vec![None; named.len()];
    let mut decided = vec![false; named.len()];
    // (is a lock, shard, proof): a reject of the smallest shard is preferred.
    let mut evidence: Option<(bool, ShardId, &EntryProof)> = None;
    let mut committed: Vec<ShardId> = Vec::new();
    let mut aborted: Vec<ShardId> = Vec::new();
    for proof in proofs {
        if proof.entry.tx() != id || !accept(proof) {
            continue;
        }
        let shard = proof.entry.shard();
        let slot = named.binary_search(&shard).ok();
        let candidate = match (proof.entry, slot) {
            (Entry::Lock { declaration: d, .. }, Some(slot)) => {
                decided[slot] = true;
                if d == declaration {
                    poas[slot] = Some(proof);
                    None
                } else {
                    Some((true, shard, proof))
                }
            }
            (Entry::Reject { .. }, Some(slot)) => {
                decided[slot] = true;
                Some((false, shard, proof))
            }
            (Entry::Commit { .. }, _) => {
                committed.push(shard);
                None
            }
            (Entry::Abort { .. }, _) => {
                aborted.push(shard);
                None
            }
            // A decision of a shard this declaration does not name proves nothing here.
            (_, None) => None,
        };
        if let Some(candidate) = candidate
            && evidence.is_none_or(|(lock, shard, _)| (candidate.0, candidate.1) < (lock, shard))
        {
            evidence = Some(candidate);
        }
    }
    if let Some((_, _, proof)) = evidence {
        let to: Vec<ShardId> = named
            .iter()
            .zip(&poas)
            .filter(|(shard, poa)| poa.is_some() && !aborted.contains(shard))
            .map(|(shard, _)| *shard)
            .collect();
        if to.is_empty() {
            return Resolution::Done;
        }
        return Resolution::Abort {
            unlock: Box::new(UnlockToAbort {
                tx: id,
                evidence: proof.clone(),
            }),
            to,
        };
    }
    if poas.iter().all(Option::is_some) {
        let to: Vec<ShardId> = xtx
            .involved_shards(shard_count)
            .into_iter()
            .filter(|shard| !committed.contains(shard))
            .collect();
        if to.is_empty() {
            return Resolution::Done;
        }
        return Resolution::Commit {
            unlock: UnlockToCommit {
                xtx: xtx.clone(),
                poas: poas.into_iter().flatten().cloned().collect(),
            },
            to,
        };
    }
    Resolution::Forward {
        xtx: xtx.clone(),
        to: named
            .iter()
            .zip(&decided)
            .filter(|(_, decided)| !**decided)
            .map(|(shard, _)| *shard)
            .collect(),
    }
}

/// One shard's Atomix state: its decisions as an input shard and its CommittedSet.
/// The shard's [`UtxoSet`] is passed to each call; it must be the same set every time.
#[derive(Debug)]
pub struct AtomixShard {
    shard: ShardId,
    shard_count: u32,
    /// Boxed: the map grows with every cross-shard transaction this shard decides (until
    /// the protocol has a horizon to forget them under, issue 18), and a table of
    /// pointers doubles in a few milliseconds where one of whole decisions, each holding
    /// its transaction, stalled the shard for about a second at a million entries
    /// (found by `ioschain soak`).
    decisions: FxHashMap<TxId, Box<Decision>>,
    committed: FxHashSet<TxId>,
}

impl AtomixShard {
    /// The state of `shard` of `shard_count` shards (panics unless
    /// `shard < shard_count`: a configuration bug).
    pub fn new(shard: ShardId, shard_count: u32) -> Self {
        assert!(
            shard.0 < shard_count,
            "shard {shard} of {shard_count} shards"
        );
        AtomixShard {
            shard,
            shard_count,
            decisions: FxHashMap::default(),
            committed: FxHashSet::default(),
        }
    }

    /// This shard.
    pub fn shard(&self) -> ShardId {
        self.shard
    }

    /// This shard's decision on `tx`, if it made one.
    pub fn decision(&self, tx: &TxId) -> Option<&Decision> {
        self.decisions.get(tx).map(|d| &**d)
    }

    /// Every decision (order unspecified): the engine scans these for its coordinator
    /// duties ([`AtomixShard::role`]).
    pub fn decisions(&self) -> impl Iterator<Item = (&TxId, &Decision)> {
        self.decisions.iter().map(|(id, d)| (id, &**d))
    }

    /// Whether this shard applied the unlock-to-commit of `tx` (its CommittedSet).
    pub fn is_committed(&self, tx: &TxId) -> bool {
        self.committed.contains(tx)
    }

    /// Lock (PROTOCOL.md §5.5 step 2): decides on this shard's part of `xtx`, once per
    /// transaction. `signatures` is the verdict on [`CrossTx::witnesses_of`] this shard.
    ///
    /// A lock request for a decided transaction returns the decision, unchanged, with
    /// `fresh == false`, whatever copy of the transaction it carries. A malformed
    /// transaction or a request to a shard with no declared input is refused with an
    /// error and decides nothing (every shard refuses it alike).
    pub fn lock(
        &mut self,
        utxo: &mut UtxoSet,
        xtx: &CrossTx,
        signatures: Signatures,
    ) -> Result<Decided, AtomixError> {
        let id = xtx.id();
        if let Some(decision) = self.decisions.get(&id) {
            return Ok(Decided {
                entry: decision.entry,
                fresh: false,
            });
        }
        xtx.check(self.shard_count)?;
        let part: Vec<OutPoint> = xtx
            .part(self.shard)
            .map(|(outpoint, _)| *outpoint)
            .collect();
        if part.is_empty() {
            return Err(AtomixError::NotInputShard {
                tx: id,
                shard: self.shard,
            });
        }
        let refusal = self
            .check_part(utxo, xtx, signatures)
            .and_then(|()| utxo.lock_inputs(id, &part).map_err(|r| Refusal::of(&r)));
        let (entry, lock) = match refusal {
            Ok(value) => (
                Entry::Lock {
                    tx: id,
                    shard: self.shard,
                    value,
                    declaration: xtx.declaration_hash(id),
                },
                Some(LockState::Pending),
            ),
            Err(reason) => (
                Entry::Reject {
                    tx: id,
                    shard: self.shard,
                    reason,
                },
                None,
            ),
        };
        self.decisions.insert(
            id,
            Box::new(Decision {
                xtx: xtx.clone(),
                entry,
                lock,
            }),
        );
        Ok(Decided { entry, fresh: true })
    }

    /// The checks of this shard's part, read-only: each input exists and is unspent,
    /// holds its declared amount, and its owner has a witness of this shard; every
    /// witness of this shard owns an input of the part; the signatures verify.
    fn check_part(
        &self,
        utxo: &UtxoSet,
        xtx: &CrossTx,
        signatures: Signatures,
    ) -> Result<(), Refusal> {
        let witnesses = &xtx.tx.witnesses;
        // Bit i: witness i lives in this shard / owns an input of the part (at most
        // TX_WITNESSES_MAX = 16 witnesses, checked by the structure check).
        let mut here: u32 = 0;
        for (i, witness) in witnesses.iter().enumerate() {
            if witness.owner.shard(self.shard_count) == self.shard {
                here |= 1 << i;
            }
        }
        let mut used: u32 = 0;
        for (outpoint, declared) in xtx.part(self.shard) {
            let held = utxo.get(outpoint).ok_or(Refusal::UnknownInput)?;
            match held.state {
                UtxoState::Unspent => {}
                UtxoState::Locked(_) => return Err(Refusal::InputLocked),
                UtxoState::Spent(_) => return Err(Refusal::DoubleSpend),
            }
            let witness = witnesses
                .iter()
                .enumerate()
                .position(|(i, w)| here & (1 << i) != 0 && w.owner == held.owner)
                .ok_or(Refusal::WrongWitness)?;
            used |= 1 << witness;
            if held.amount != declared.amount {
                return Err(Refusal::Misdeclared);
            }
        }
        if used != here {
            return Err(Refusal::WrongWitness);
        }
        match signatures {
            Signatures::Valid => Ok(()),
            Signatures::Bad { .. } => Err(Refusal::BadSignature),
        }
    }

    /// Checks the PoAs of an unlock-to-commit: one per named shard, each a lock of this
    /// transaction under this declaration, worth its declared part, and valid. Returns
    /// the sum of the locked values. Cheap checks run on every proof before any
    /// signature is verified.
    fn check_poas(
        &self,
        unlock: &UnlockToCommit,
        id: TxId,
        named: &[ShardId],
        verifier: &mut ProofVerifier,
        rosters: &impl Rosters,
    ) -> Result<Amount, AtomixError> {
        let declaration = unlock.xtx.declaration_hash(id);
        let mut seen = vec![false; named.len()];
        let mut locked = Amount::ZERO;
        for proof in &unlock.poas {
            let (tx, shard) = (proof.entry.tx(), proof.entry.shard());
            if tx != id {
                return Err(AtomixError::WrongTx {
                    expected: id,
                    got: tx,
                });
            }
            let slot = named
                .binary_search(&shard)
                .map_err(|_| AtomixError::ShardNotNamed { tx: id, shard })?;
            if seen[slot] {
                return Err(AtomixError::DuplicateProof { shard });
            }
            seen[slot] = true;
            let Entry::Lock {
                value,
                declaration: d,
                ..
            } = proof.entry
            else {
                return Err(AtomixError::NotPoa {
                    shard,
                    kind: proof.entry.kind(),
                });
            };
            if d != declaration {
                return Err(AtomixError::DeclarationMismatch { shard });
            }
            let declared = unlock.xtx.part_value(shard);
            if value != declared {
                return Err(AtomixError::ValueMismatch {
                    shard,
                    declared,
                    locked: value,
                });
            }
            // Declared values were checked not to overflow in sum.
            locked = Amount(locked.0.saturating_add(value.0));
        }
        if let Some(slot) = seen.iter().position(|seen| !seen) {
            return Err(AtomixError::MissingPoa { shard: named[slot] });
        }
        for proof in &unlock.poas {
            verifier
                .verify(proof, rosters)
                .map_err(|error| AtomixError::Proof {
                    shard: proof.entry.shard(),
                    error,
                })?;
        }
        Ok(locked)
    }

    /// Unlock-to-commit (PROTOCOL.md §5.5 step 3): verifies a PoA from every named input
    /// shard, each worth its part's declared value (so `Σ locked = Σ declared inputs ≥
    /// Σ outputs`, the difference being the fee), then — once per
    /// transaction — spends this shard's locked part (if it is an input shard) and
    /// creates the outputs it owns (if it is an output shard). A replay returns
    /// [`CommitOutcome::AlreadyCommitted`] and changes nothing; any error changes nothing.
    pub fn unlock_commit(
        &mut self,
        utxo: &mut UtxoSet,
        unlock: &UnlockToCommit,
        verifier: &mut ProofVerifier,
        rosters: &impl Rosters,
    ) -> Result<CommitOutcome, AtomixError> {
        let xtx = &unlock.xtx;
        let id = xtx.id();
        if self.committed.contains(&id) {
            return Ok(CommitOutcome::AlreadyCommitted);
        }
        let balance = xtx.check(self.shard_count)?;
        let named = xtx.input_shards();
        let input_shard = named.binary_search(&self.shard).is_ok();
        let owned: Vec<(u32, Amount)> = xtx
            .tx
            .outputs
            .iter()
            .enumerate()
            .filter(|(_, out)| out.owner.shard(self.shard_count) == self.shard)
            .map(|(index, out)| (index as u32, out.amount))
            .collect();
        if !input_shard && owned.is_empty() {
            return Ok(CommitOutcome::NotInvolved);
        }
        // Each PoA locked exactly its part's declared value, so Σ locked = Σ declared
        // inputs, which the check above found to cover the outputs: the fee is the rest.
        let locked = self.check_poas(unlock, id, &named, verifier, rosters)?;
        debug_assert_eq!(locked, balance.inputs);
        let mut part = Vec::new();
        if input_shard {
            let conflict = |detail| AtomixError::Conflict { tx: id, detail };
            let decision = self
                .decisions
                .get(&id)
                .ok_or(conflict("a PoA of this shard, which never decided"))?;
            let own = unlock
                .poas
                .iter()
                .find(|p| p.entry.shard() == self.shard)
                .map(|p| p.entry);
            if own != Some(decision.entry) {
                return Err(conflict(
                    "a PoA of this shard that differs from its decision",
                ));
            }
            match decision.lock {
                Some(LockState::Pending) => {}
                Some(LockState::Aborted) => {
                    return Err(conflict("a commit after this shard aborted"));
                }
                _ => return Err(conflict("a commit this shard cannot apply")),
            }
            part = xtx
                .part(self.shard)
                .map(|(outpoint, _)| *outpoint)
                .collect();
        }
        for (index, _) in &owned {
            let outpoint = OutPoint {
                tx: id,
                index: *index,
            };
            if utxo.get(&outpoint).is_some() {
                return Err(UtxoError::Exists(outpoint).into());
            }
        }
        let spent = if input_shard {
            let spent = utxo.commit_lock(id, &part)?;
            if let Some(decision) = self.decisions.get_mut(&id) {
                decision.lock = Some(LockState::Committed);
            }
            // The part's value fits in u64: it was declared and summed without overflow.
            Amount(u64::try_from(spent).unwrap_or(u64::MAX))
        } else {
            Amount::ZERO
        };
        let mut created = Amount::ZERO;
        for (index, amount) in owned {
            let output = xtx.tx.outputs[index as usize];
            utxo.create(OutPoint { tx: id, index }, output)?;
            created = Amount(created.0.saturating_add(amount.0));
        }
        self.committed.insert(id);
        Ok(CommitOutcome::Applied {
            entry: Entry::Commit {
                tx: id,
                shard: self.shard,
            },
            spent,
            created,
            fee: balance.fee(),
        })
    }

    /// Unlock-to-abort (PROTOCOL.md §5.5 step 3): if this shard locked its part of
    /// `unlock.tx`, verifies the abort evidence against the declaration it locked under
    /// and returns the part to unspent, once. Without a lock here nothing happens
    /// ([`AbortOutcome::NotLocked`]); a replay returns [`AbortOutcome::AlreadyAborted`];
    /// any error changes nothing.
    pub fn unlock_abort(
        &mut self,
        utxo: &mut UtxoSet,
        unlock: &UnlockToAbort,
        verifier: &mut ProofVerifier,
        rosters: &impl Rosters,
    ) -> Result<AbortOutcome, AtomixError> {
        let id = unlock.tx;
        let Some(decision) = self.decisions.get(&id) else {
            return Ok(AbortOutcome::NotLocked);
        };
        let Entry::Lock {
            value, declaration, ..
        } = decision.entry
        else {
            return Ok(AbortOutcome::NotLocked);
        };
        if decision.lock == Some(LockState::Aborted) {
            return Ok(AbortOutcome::AlreadyAborted);
        }
        let evidence = &unlock.evidence;
        let (tx, shard) = (evidence.entry.tx(), evidence.entry.shard());
        if tx != id {
            return Err(AtomixError::WrongTx {
                expected: id,
                got: tx,
            });
        }
        if !decision.xtx.declared.iter().any(|d| d.shard == shard) {
            return Err(AtomixError::ShardNotNamed { tx: id, shard });
        }
        match evidence.entry {
            Entry::Reject { .. } => {}
            Entry::Lock { declaration: d, .. } if d != declaration => {}
            other => {
                return Err(AtomixError::NotAbortEvidence {
                    shard,
                    kind: other.kind(),
                });
            }
        }
        verifier
            .verify(evidence, rosters)
            .map_err(|error| AtomixError::Proof { shard, error })?;
        if decision.lock == Some(LockState::Committed) {
            return Err(AtomixError::Conflict {
                tx: id,
                detail: "abort evidence for a transaction this shard committed",
            });
        }
        let part: Vec<OutPoint> = decision
            .xtx
            .part(self.shard)
            .map(|(outpoint, _)| *outpoint)
            .collect();
        utxo.abort_lock(id, &part)?;
        if let Some(decision) = self.decisions.get_mut(&id) {
            decision.lock = Some(LockState::Aborted);
        }
        Ok(AbortOutcome::Applied {
            entry: Entry::Abort {
                tx: id,
                shard: self.shard,
            },
            returned: value,
        })
    }

    /// This shard's role for a stuck `tx` (PROTOCOL.md §5.6): coordinator if its stored
    /// declaration makes it the coordinator, backup while its own part is still locked,
    /// none otherwise.
    pub fn role(&self, tx: &TxId) -> Option<Role> {
        let decision = self.decisions.get(tx)?;
        if decision.xtx.coordinator() == Some(self.shard) {
            Some(Role::Coordinator)
        } else if decision.lock == Some(LockState::Pending) {
            Some(Role::Backup)
        } else {
            None
        }
    }

    /// The coordinator rule: `None` while this shard has no role for `tx` or its role is
    /// not due ([`Role::due`]); otherwise what to send ([`resolve`] over the published
    /// `proofs`, with the transaction as this shard received it). The engine sends it,
    /// and counts `blocks_since_last_proof` afresh from then (duplicates are harmless);
    /// it stops tracking `tx` once this returns [`Resolution::Done`].
    pub fn coordinate<'a>(
        &self,
        tx: &TxId,
        blocks_since_last_proof: u64,
        t_unlock: u64,
        proofs: impl IntoIterator<Item = &'a EntryProof>,
        verifier: &mut ProofVerifier,
        rosters: &impl Rosters,
    ) -> Option<Resolution> {
        let role = self.role(tx)?;
        if !role.due(blocks_since_last_proof, t_unlock) {
            return None;
        }
        let xtx = &self.decisions.get(tx)?.xtx;
        Some(resolve(xtx, self.shard_count, proofs, verifier, rosters))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use ed25519_dalek::SigningKey;
    use proptest::prelude::*;

    use super::*;
    use crate::crypto::cosi::{Signers, ValidatorKey, sign_round};
    use crate::tx::TxOut;
    use crate::types::Height;

    const SHARDS: u32 = 3;
    const ROSTER_LEN: usize = 4;
    const T_UNLOCK: u64 = 3;
    const WALLETS_PER_SHARD: usize = 2;

    fn owner_of(key: &SigningKey) -> Owner {
        Owner(key.verifying_key().to_bytes())
    }

    /// Client keys by shard: the first seeds whose owners map to each shard.
    fn wallets() -> &'static [Vec<SigningKey>] {
        static WALLETS: OnceLock<Vec<Vec<SigningKey>>> = OnceLock::new();
        WALLETS.get_or_init(|| {
            let mut by_shard: Vec<Vec<SigningKey>> = vec![Vec::new(); SHARDS as usize];
            for seed in 1u8..=255 {
                let key = SigningKey::from_bytes(&[seed; 32]);
                let shard = owner_of(&key).shard(SHARDS).0 as usize;
                if by_shard[shard].len() < WALLETS_PER_SHARD {
                    by_shard[shard].push(key);
                }
            }
            assert!(by_shard.iter().all(|w| w.len() == WALLETS_PER_SHARD));
            by_shard
        })
    }

    fn wallet(shard: u32, i: usize) -> &'static SigningKey {
        &wallets()[shard as usize][i]
    }

    /// Validator keys of every shard (4 each) and the rosters they form, epoch 0.
    fn federation() -> &'static (Vec<Vec<ValidatorKey>>, RosterBook) {
        static FEDERATION: OnceLock<(Vec<Vec<ValidatorKey>>, RosterBook)> = OnceLock::new();
        FEDERATION.get_or_init(|| {
            let mut book = RosterBook::new();
            let keys: Vec<Vec<ValidatorKey>> = (0..SHARDS)
                .map(|shard| {
                    let keys: Vec<ValidatorKey> = (0..ROSTER_LEN)
                        .map(|i| {
                            let mut seed = [0x5a; 32];
                            seed[0] = shard as u8;
                            seed[1] = i as u8;
                            ValidatorKey::from_seed(&seed)
                        })
                        .collect();
                    book.insert(ShardId(shard), Epoch(0), roster_of(&keys));
                    keys
                })
                .collect();
            (keys, book)
        })
    }

    #[test]
    fn a_proof_is_checked_against_the_roster_in_force_at_its_blocks_height() {
        // Shard 0's roster changes at height 50 of epoch 0 (a TransEpoch RosterChange
        // final at 49): members 0 and 1 are replaced.
        let old = &federation().0[0];
        let mut new = old.clone();
        for (i, key) in new.iter_mut().take(2).enumerate() {
            *key = ValidatorKey::from_seed(&[0xa0 + i as u8; 32]);
        }
        let mut book = RosterBook::new();
        book.insert(ShardId(0), Epoch(0), roster_of(old));
        book.insert_from(ShardId(0), Epoch(0), Height(50), roster_of(&new));
        let entry = Entry::Commit {
            tx: TxId(Hash([7; 32])),
            shard: ShardId(0),
        };
        let proof_at = |height: u64, keys: &[ValidatorKey]| {
            let header = header_over(0, 0, height, &[entry]);
            let certificate = certify(&header, keys, &Signers::all(ROSTER_LEN));
            block_proofs(&header, &certificate, &[entry]).remove(0)
        };
        let check =
            |proof: &EntryProof, book: &RosterBook| ProofVerifier::default().verify(proof, book);
        check(&proof_at(49, old), &book).unwrap();
        check(&proof_at(50, &new), &book).unwrap();
        check(&proof_at(900, &new), &book).unwrap();
        // The roster that left cannot sign a block after the change, nor the new one a
        // block before it.
        assert_eq!(
            check(&proof_at(50, old), &book),
            Err(ProofError::BadCosig(CosiError::InvalidSignature))
        );
        assert_eq!(
            check(&proof_at(49, &new), &book),
            Err(ProofError::BadCosig(CosiError::InvalidSignature))
        );
        // The bytes decode against the roster of their height too.
        let bytes = proof_at(50, &new).to_bytes();
        assert_eq!(
            EntryProof::from_bytes(&bytes, &book).unwrap(),
            proof_at(50, &new)
        );
        // A later change recorded at a lower height replaces the rosters from it.
        book.insert_from(ShardId(0), Epoch(0), Height(10), roster_of(old));
        check(&proof_at(50, old), &book).unwrap();
    }

    fn roster_of(keys: &[ValidatorKey]) -> Roster {
        let members: Vec<_> = keys
            .iter()
            .map(|k| (k.public(), k.prove_possession()))
            .collect();
        Roster::new(&members).unwrap()
    }

    fn rosters() -> &'static RosterBook {
        &federation().1
    }

    /// A certificate over `header` by `signers` of the roster `keys` form; the round's
    /// fresh bytes are derived from the header, so tests are deterministic.
    fn certify(header: &BlockHeader, keys: &[ValidatorKey], signers: &Signers) -> FinalCertificate {
        let header_hash = header.hash();
        let fresh = Domain::Prg.hash_parts(&[b"atomix test cosi", &header_hash.0]);
        let cosig = sign_round(&roster_of(keys), keys, signers, &header_hash.0, &fresh.0);
        FinalCertificate { header_hash, cosig }
    }

    fn header_over(shard: u32, epoch: u64, height: u64, entries: &[Entry]) -> BlockHeader {
        BlockHeader {
            shard: ShardId(shard),
            epoch: Epoch(epoch),
            height: Height(height),
            prev: Hash::ZERO,
            tx_root: merkle::root(&[]),
            tx_count: 0,
            pob_root: Hash::ZERO,
            atomix_root: atomix_root(entries),
        }
    }

    /// A proof of `entry` in a block the forger made and had `keys` sign.
    fn forged_proof(
        entry: Entry,
        epoch: u64,
        keys: &[ValidatorKey],
        signers: &Signers,
    ) -> EntryProof {
        let header = header_over(entry.shard().0, epoch, 99, &[entry]);
        let certificate = certify(&header, keys, signers);
        block_proofs(&header, &certificate, &[entry]).remove(0)
    }

    /// A shard's UTXO entries, lock states and pending entry count, sorted.
    type NodeSnapshot = (
        Vec<(OutPoint, crate::utxo::Utxo)>,
        Vec<(TxId, Option<LockState>)>,
        usize,
    );

    struct Node {
        atomix: AtomixShard,
        utxo: UtxoSet,
        verifier: ProofVerifier,
        keys: KeyCache,
        /// Entries awaiting the next block.
        pending: Vec<Entry>,
        /// Entries of this shard's final blocks, in order.
        in_blocks: Vec<Entry>,
        height: u64,
        prev: Hash,
    }

    /// Three shards with their UTXO sets, chains of final blocks and the public pool of
    /// proofs; the test is the client (and the network).
    struct Net {
        nodes: Vec<Node>,
        published: Vec<EntryProof>,
        client: ProofVerifier,
        genesis: u128,
        intra_fees: u128,
        funded: u64,
        /// Where each funded output lives (the oracle's knowledge, not the shards').
        holder: FxHashMap<OutPoint, ShardId>,
    }

    impl Net {
        fn new() -> Net {
            Net {
                nodes: (0..SHARDS)
                    .map(|shard| Node {
                        atomix: AtomixShard::new(ShardId(shard), SHARDS),
                        utxo: UtxoSet::new(),
                        verifier: ProofVerifier::default(),
                        keys: KeyCache::new(),
                        pending: Vec::new(),
                        in_blocks: Vec::new(),
                        height: 0,
                        prev: Hash::ZERO,
                    })
                    .collect(),
                published: Vec::new(),
                client: ProofVerifier::default(),
                genesis: 0,
                intra_fees: 0,
                funded: 0,
                holder: FxHashMap::default(),
            }
        }

        fn node(&mut self, shard: ShardId) -> &mut Node {
            &mut self.nodes[shard.0 as usize]
        }

        /// A genesis output of `amount` for `key`'s owner, in its shard.
        fn fund(&mut self, key: &SigningKey, amount: u64) -> OutPoint {
            self.funded += 1;
            let outpoint = OutPoint {
                tx: TxId(Domain::Prg.hash(&self.funded.to_le_bytes())),
                index: 0,
            };
            let owner = owner_of(key);
            let shard = owner.shard(SHARDS);
            self.node(shard)
                .utxo
                .create(
                    outpoint,
                    TxOut {
                        owner,
                        amount: Amount(amount),
                    },
                )
                .unwrap();
            self.genesis += u128::from(amount);
            self.holder.insert(outpoint, shard);
            outpoint
        }

        /// A cross-shard transaction spending `inputs` (each signed by its owner's key)
        /// to `outputs`, declared truthfully.
        fn cross(
            &self,
            inputs: &[(OutPoint, &SigningKey)],
            outputs: &[(&SigningKey, u64)],
        ) -> CrossTx {
            let signers: Vec<&SigningKey> = inputs.iter().map(|(_, k)| *k).collect();
            let tx = Transaction::signed(
                inputs.iter().map(|(o, _)| *o).collect(),
                outputs
                    .iter()
                    .map(|(k, a)| TxOut {
                        owner: owner_of(k),
                        amount: Amount(*a),
                    })
                    .collect(),
                &signers,
            );
            let declared = inputs
                .iter()
                .map(|(outpoint, _)| {
                    let shard = self.holder[outpoint];
                    let held = self.nodes[shard.0 as usize].utxo.get(outpoint).unwrap();
                    DeclaredInput {
                        shard,
                        amount: held.amount,
                    }
                })
                .collect();
            CrossTx { tx, declared }
        }

        /// An intra-shard payment (applied directly; it is not under test here).
        fn spend_locally(
            &mut self,
            coin: OutPoint,
            from: &SigningKey,
            to: &SigningKey,
            amount: u64,
        ) {
            let tx = Transaction::signed(
                vec![coin],
                vec![TxOut {
                    owner: owner_of(to),
                    amount: Amount(amount),
                }],
                &[from],
            );
            let shard = self.holder[&coin];
            let fee = self.node(shard).utxo.apply(&tx, tx.id()).unwrap();
            self.holder.insert(
                OutPoint {
                    tx: tx.id(),
                    index: 0,
                },
                shard,
            );
            self.intra_fees += u128::from(fee.0);
        }

        fn lock(&mut self, shard: ShardId, xtx: &CrossTx) -> Result<Decided, AtomixError> {
            let node = self.node(shard);
            let signatures = xtx.check_signatures(shard, SHARDS, &mut node.keys);
            let decided = node.atomix.lock(&mut node.utxo, xtx, signatures)?;
            if decided.fresh {
                node.pending.push(decided.entry);
            }
            Ok(decided)
        }

        fn commit(
            &mut self,
            shard: ShardId,
            unlock: &UnlockToCommit,
        ) -> Result<CommitOutcome, AtomixError> {
            let node = self.node(shard);
            let outcome =
                node.atomix
                    .unlock_commit(&mut node.utxo, unlock, &mut node.verifier, rosters())?;
            if let CommitOutcome::Applied { entry, .. } = outcome {
                node.pending.push(entry);
            }
            Ok(outcome)
        }

        fn abort(
            &mut self,
            shard: ShardId,
            unlock: &UnlockToAbort,
        ) -> Result<AbortOutcome, AtomixError> {
            let node = self.node(shard);
            let outcome =
                node.atomix
                    .unlock_abort(&mut node.utxo, unlock, &mut node.verifier, rosters())?;
            if let AbortOutcome::Applied { entry, .. } = outcome {
                node.pending.push(entry);
            }
            Ok(outcome)
        }

        /// Puts the shard's pending entries into a final block (cosigned by its whole
        /// roster) and publishes their proofs.
        fn seal(&mut self, shard: u32) {
            let node = &mut self.nodes[shard as usize];
            if node.pending.is_empty() {
                return;
            }
            let entries = std::mem::take(&mut node.pending);
            let mut header = header_over(shard, 0, node.height, &entries);
            header.prev = node.prev;
            let keys = &federation().0[shard as usize];
            let certificate = certify(&header, keys, &Signers::all(ROSTER_LEN));
            self.published
                .extend(block_proofs(&header, &certificate, &entries));
            node.in_blocks.extend(entries);
            node.height += 1;
            node.prev = header.hash();
        }

        fn seal_all(&mut self) {
            for shard in 0..SHARDS {
                self.seal(shard);
            }
        }

        fn proof_of(&self, entry: &Entry) -> EntryProof {
            self.published
                .iter()
                .find(|p| p.entry == *entry)
                .expect("entry published")
                .clone()
        }

        /// What the client (holding every published proof) would send.
        fn resolve(&mut self, xtx: &CrossTx) -> Resolution {
            resolve(xtx, SHARDS, &self.published, &mut self.client, rosters())
        }

        /// Sends a resolution to all its destinations; every delivery must succeed.
        fn deliver(&mut self, resolution: &Resolution) {
            match resolution {
                Resolution::Done => {}
                Resolution::Forward { xtx, to } => {
                    for shard in to {
                        self.lock(*shard, xtx).unwrap();
                    }
                }
                Resolution::Commit { unlock, to } => {
                    for shard in to {
                        self.commit(*shard, unlock).unwrap();
                    }
                }
                Resolution::Abort { unlock, to } => {
                    for shard in to {
                        self.abort(*shard, unlock).unwrap();
                    }
                }
            }
        }

        /// The client seals, resolves and delivers until nothing is left (or only
        /// undecided shards, which a client that sent nothing there leaves alone).
        fn client_finishes(&mut self, xtx: &CrossTx) -> Resolution {
            for _ in 0..4 {
                self.seal_all();
                let resolution = self.resolve(xtx);
                if matches!(resolution, Resolution::Done | Resolution::Forward { .. }) {
                    return resolution;
                }
                self.deliver(&resolution);
            }
            panic!("no progress on {:?}", xtx.id());
        }

        /// Every shard runs its coordinator duties, `since` finalized blocks after the
        /// last proof of each transaction; returns how many resolutions were sent.
        fn tick(&mut self, since: u64) -> usize {
            let mut sent = 0;
            for shard in 0..SHARDS as usize {
                let mut txs: Vec<TxId> = self.nodes[shard]
                    .atomix
                    .decisions()
                    .map(|(id, _)| *id)
                    .collect();
                txs.sort_unstable();
                for tx in txs {
                    let node = &mut self.nodes[shard];
                    let action = node.atomix.coordinate(
                        &tx,
                        since,
                        T_UNLOCK,
                        &self.published,
                        &mut node.verifier,
                        rosters(),
                    );
                    if let Some(resolution) = action
                        && resolution != Resolution::Done
                    {
                        self.deliver(&resolution);
                        sent += 1;
                    }
                }
            }
            sent
        }

        /// Runs the coordinator rules (with every timer expired) until nothing moves.
        fn settle(&mut self) {
            for _ in 0..10 {
                self.seal_all();
                if self.tick(2 * T_UNLOCK) == 0 && self.nodes.iter().all(|n| n.pending.is_empty()) {
                    return;
                }
            }
            panic!("the coordinators did not settle");
        }

        fn state(&self, outpoint: &OutPoint) -> Option<UtxoState> {
            let shard = self.holder.get(outpoint)?;
            self.nodes[shard.0 as usize]
                .utxo
                .get(outpoint)
                .map(|u| u.state)
        }

        fn output_exists(&self, xtx: &CrossTx, index: usize) -> bool {
            let shard = xtx.tx.outputs[index].owner.shard(SHARDS);
            self.nodes[shard.0 as usize]
                .utxo
                .get(&OutPoint {
                    tx: xtx.id(),
                    index: index as u32,
                })
                .is_some()
        }

        /// Value of every unspent or locked output, by iteration (not the counters).
        fn live_value(&self) -> u128 {
            self.nodes
                .iter()
                .flat_map(|n| n.utxo.iter())
                .filter(|(_, u)| !matches!(u.state, UtxoState::Spent(_)))
                .map(|(_, u)| u128::from(u.amount.0))
                .sum()
        }

        fn snapshot(&self) -> Vec<NodeSnapshot> {
            self.nodes
                .iter()
                .map(|n| {
                    let mut utxos: Vec<_> = n.utxo.iter().map(|(o, u)| (*o, *u)).collect();
                    utxos.sort_by_key(|(o, _)| *o);
                    let mut decisions: Vec<_> =
                        n.atomix.decisions().map(|(id, d)| (*id, d.lock)).collect();
                    decisions.sort_by_key(|(id, _)| *id);
                    (utxos, decisions, n.pending.len())
                })
                .collect()
        }

        /// Entries applied so far (in a block or awaiting one), all shards.
        fn applied_entries(&self) -> Vec<Entry> {
            self.nodes
                .iter()
                .flat_map(|n| n.in_blocks.iter().chain(&n.pending))
                .copied()
                .collect()
        }

        /// A1–A6 at any moment, recomputed from the entries and the UTXO sets. `txs`
        /// lists every cross-shard transaction (all declarations sent).
        fn check_invariants(&self, txs: &[CrossTx]) {
            // Each set keeps its own books.
            for node in &self.nodes {
                let u = &node.utxo;
                assert_eq!(
                    u.unspent_value() + u.locked_value() + u.fees() + u.exported_value(),
                    u.created_value()
                );
            }
            let entries = self.applied_entries();
            let mut ids: Vec<TxId> = txs.iter().map(CrossTx::id).collect();
            ids.sort_unstable();
            ids.dedup();
            let mut expected_live = self.genesis as i128 - self.intra_fees as i128;
            for id in ids {
                let variants: Vec<&CrossTx> = txs.iter().filter(|x| x.id() == id).collect();
                let xtx = variants[0];
                let named = xtx.input_shards();
                let of_tx: Vec<&Entry> = entries.iter().filter(|e| e.tx() == id).collect();
                // A3: one decision per (tx, shard); one commit and one abort at most.
                for shard in 0..SHARDS {
                    let count = |kinds: &[&str]| {
                        of_tx
                            .iter()
                            .filter(|e| e.shard() == ShardId(shard) && kinds.contains(&e.kind()))
                            .count()
                    };
                    assert!(count(&["lock", "reject"]) <= 1, "A3: two decisions");
                    assert!(count(&["commit"]) <= 1 && count(&["abort"]) <= 1);
                }
                // A4: a commit needs a lock from every named shard under one declaration;
                // an abort needs a refusal or a lock under another declaration.
                let committed = of_tx.iter().any(|e| matches!(e, Entry::Commit { .. }));
                let aborted = of_tx.iter().any(|e| matches!(e, Entry::Abort { .. }));
                assert!(
                    !(committed && aborted),
                    "A4: {id:?} both committed and aborted"
                );
                let locks: Vec<(ShardId, Hash)> = of_tx
                    .iter()
                    .filter_map(|e| match e {
                        Entry::Lock {
                            shard, declaration, ..
                        } => Some((*shard, *declaration)),
                        _ => None,
                    })
                    .collect();
                if committed {
                    assert!(
                        variants.iter().any(|v| {
                            let d = v.declaration_hash(id);
                            named.iter().all(|s| locks.contains(&(*s, d)))
                        }),
                        "A4: commit of {id:?} without every PoA"
                    );
                }
                if aborted {
                    let refused = of_tx.iter().any(|e| matches!(e, Entry::Reject { .. }));
                    let conflicting = locks.iter().any(|(_, d)| *d != locks[0].1);
                    assert!(
                        refused || conflicting,
                        "A4: abort of {id:?} without evidence"
                    );
                }
                // A1/A2 at any moment: outputs or spent inputs only while every input is
                // held by this transaction.
                let states: Vec<Option<UtxoState>> =
                    xtx.tx.inputs.iter().map(|o| self.state(o)).collect();
                let held = states.iter().all(|s| {
                    matches!(s, Some(UtxoState::Locked(t)) | Some(UtxoState::Spent(t)) if *t == id)
                });
                let created: u128 = (0..xtx.tx.outputs.len())
                    .filter(|&k| self.output_exists(xtx, k))
                    .map(|k| u128::from(xtx.tx.outputs[k].amount.0))
                    .sum();
                let spent: u128 = xtx
                    .tx
                    .inputs
                    .iter()
                    .zip(&states)
                    .filter(|(_, s)| **s == Some(UtxoState::Spent(id)))
                    .map(|(o, _)| {
                        let shard = self.holder[o];
                        u128::from(self.nodes[shard.0 as usize].utxo.get(o).unwrap().amount.0)
                    })
                    .sum();
                if created > 0 || spent > 0 {
                    assert!(
                        held,
                        "A1: {id:?} created or spent without holding every input"
                    );
                    assert!(committed, "A1: {id:?} applied without a commit entry");
                }
                // A6: value moves only by committed cross-shard transactions and fees.
                expected_live += created as i128 - spent as i128;
            }
            assert_eq!(
                self.live_value() as i128,
                expected_live,
                "A6: value not conserved"
            );
            // A2: a locked output is held by a pending lock of its shard.
            for node in &self.nodes {
                for (_, utxo) in node.utxo.iter() {
                    if let UtxoState::Locked(by) = utxo.state {
                        let decision = node
                            .atomix
                            .decision(&by)
                            .expect("A2: lock without decision");
                        assert_eq!(decision.lock, Some(LockState::Pending), "A2");
                    }
                }
            }
        }

        /// After settling: every transaction fully committed or fully aborted (A1), no
        /// input still locked (A7), and total value = genesis − fees (A6).
        fn check_settled(&self, txs: &[CrossTx]) -> (usize, usize) {
            self.check_invariants(txs);
            let mut ids: Vec<&CrossTx> = Vec::new();
            for xtx in txs {
                if !ids.iter().any(|x| x.id() == xtx.id()) {
                    ids.push(xtx);
                }
            }
            let (mut commits, mut aborts) = (0, 0);
            let mut fees: u128 = 0;
            for xtx in ids {
                let id = xtx.id();
                let states: Vec<Option<UtxoState>> =
                    xtx.tx.inputs.iter().map(|o| self.state(o)).collect();
                let all_spent = states.iter().all(|s| *s == Some(UtxoState::Spent(id)));
                let all_created = (0..xtx.tx.outputs.len()).all(|k| self.output_exists(xtx, k));
                let none_held = states
                    .iter()
                    .all(|s| !matches!(s, Some(UtxoState::Locked(t)) | Some(UtxoState::Spent(t)) if *t == id));
                let none_created = (0..xtx.tx.outputs.len()).all(|k| !self.output_exists(xtx, k));
                if all_spent && all_created {
                    commits += 1;
                    let inputs: u128 = xtx
                        .tx
                        .inputs
                        .iter()
                        .map(|o| {
                            let shard = self.holder[o];
                            u128::from(self.nodes[shard.0 as usize].utxo.get(o).unwrap().amount.0)
                        })
                        .sum();
                    let outputs: u128 = xtx.tx.outputs.iter().map(|o| u128::from(o.amount.0)).sum();
                    fees += inputs - outputs;
                } else {
                    assert!(
                        none_held && none_created,
                        "A1: {id:?} half applied: {states:?}"
                    );
                    if self.applied_entries().iter().any(|e| e.tx() == id) {
                        aborts += 1;
                    }
                }
            }
            for node in &self.nodes {
                assert_eq!(node.utxo.locked_value(), 0, "A7: inputs still locked");
            }
            assert_eq!(
                self.live_value(),
                self.genesis - self.intra_fees - fees,
                "A6"
            );
            (commits, aborts)
        }
    }

    fn applied(outcome: CommitOutcome) -> (Amount, Amount, Amount) {
        match outcome {
            CommitOutcome::Applied {
                spent,
                created,
                fee,
                ..
            } => (spent, created, fee),
            other => panic!("not applied: {other:?}"),
        }
    }

    #[test]
    fn cross_shard_commit_across_two_shards() {
        let mut net = Net::new();
        let (alice, bob) = (wallet(0, 0), wallet(1, 0));
        let coin = net.fund(alice, 100);
        let xtx = net.cross(&[(coin, alice)], &[(bob, 90)]);
        let id = xtx.id();

        let decided = net.lock(ShardId(0), &xtx).unwrap();
        assert!(decided.fresh);
        assert!(matches!(
            decided.entry,
            Entry::Lock {
                value: Amount(100),
                shard: ShardId(0),
                ..
            }
        ));
        assert_eq!(net.state(&coin), Some(UtxoState::Locked(id)));
        net.check_invariants(std::slice::from_ref(&xtx));
        // Before the lock is final the client has no PoA: nothing to send but the lock.
        assert_eq!(
            net.resolve(&xtx),
            Resolution::Forward {
                xtx: xtx.clone(),
                to: vec![ShardId(0)]
            }
        );
        net.seal_all();
        let Resolution::Commit { unlock, to } = net.resolve(&xtx) else {
            panic!("every named shard locked");
        };
        assert_eq!(to, vec![ShardId(0), ShardId(1)]);
        assert_eq!(
            applied(net.commit(ShardId(1), &unlock).unwrap()),
            (Amount(0), Amount(90), Amount(10))
        );
        net.check_invariants(std::slice::from_ref(&xtx));
        assert_eq!(
            applied(net.commit(ShardId(0), &unlock).unwrap()),
            (Amount(100), Amount(0), Amount(10))
        );
        assert_eq!(net.state(&coin), Some(UtxoState::Spent(id)));
        assert!(net.output_exists(&xtx, 0));
        assert_eq!(net.client_finishes(&xtx), Resolution::Done);
        assert_eq!(net.check_settled(&[xtx]), (1, 0));
        assert_eq!(net.live_value(), 90);
    }

    #[test]
    fn cross_shard_commit_across_three_shards() {
        let mut net = Net::new();
        let (alice, bob, carol) = (wallet(0, 0), wallet(1, 0), wallet(2, 0));
        let a = net.fund(alice, 100);
        let b1 = net.fund(bob, 50);
        let b2 = net.fund(bob, 30);
        // Alice and Bob pay Carol, with change back to each: outputs in all three shards.
        let xtx = net.cross(
            &[(a, alice), (b1, bob), (b2, bob)],
            &[(carol, 150), (alice, 10), (bob, 15)],
        );
        assert_eq!(xtx.input_shards(), vec![ShardId(0), ShardId(1)]);
        assert_eq!(
            xtx.involved_shards(SHARDS),
            vec![ShardId(0), ShardId(1), ShardId(2)]
        );
        for shard in [1, 0] {
            assert!(net.lock(ShardId(shard), &xtx).unwrap().fresh);
        }
        net.seal_all();
        let Resolution::Commit { unlock, to } = net.resolve(&xtx) else {
            panic!("both input shards locked");
        };
        let mut outcomes = Vec::new();
        for shard in &to {
            outcomes.push(applied(net.commit(*shard, &unlock).unwrap()));
            net.check_invariants(std::slice::from_ref(&xtx));
        }
        assert_eq!(
            outcomes,
            vec![
                (Amount(100), Amount(10), Amount(5)),
                (Amount(80), Amount(15), Amount(5)),
                (Amount(0), Amount(150), Amount(5)),
            ]
        );
        assert_eq!(net.client_finishes(&xtx), Resolution::Done);
        assert_eq!(net.check_settled(&[xtx]), (1, 0));
        assert_eq!(net.live_value(), 175);
    }

    #[test]
    fn cross_shard_abort_when_one_input_is_already_spent() {
        let mut net = Net::new();
        let (alice, bob, carol) = (wallet(0, 0), wallet(1, 0), wallet(2, 0));
        let a = net.fund(alice, 100);
        let b = net.fund(bob, 100);
        let xtx = net.cross(&[(a, alice), (b, bob)], &[(carol, 200)]);
        net.spend_locally(b, bob, wallet(1, 1), 95);

        assert!(matches!(
            net.lock(ShardId(0), &xtx).unwrap().entry,
            Entry::Lock { .. }
        ));
        let refused = net.lock(ShardId(1), &xtx).unwrap().entry;
        assert_eq!(
            refused,
            Entry::Reject {
                tx: xtx.id(),
                shard: ShardId(1),
                reason: Refusal::DoubleSpend
            }
        );
        net.seal_all();
        // No commit can be assembled: the PoR is not a PoA, and without it one is missing.
        let poa = net.proof_of(&net.nodes[0].in_blocks[0]);
        let por = net.proof_of(&refused);
        let with_por = UnlockToCommit {
            xtx: xtx.clone(),
            poas: vec![poa.clone(), por.clone()],
        };
        assert_eq!(
            net.commit(ShardId(2), &with_por),
            Err(AtomixError::NotPoa {
                shard: ShardId(1),
                kind: "reject"
            })
        );
        let without = UnlockToCommit {
            xtx: xtx.clone(),
            poas: vec![poa],
        };
        assert_eq!(
            net.commit(ShardId(2), &without),
            Err(AtomixError::MissingPoa { shard: ShardId(1) })
        );
        let Resolution::Abort { unlock, to } = net.resolve(&xtx) else {
            panic!("shard 1 refused");
        };
        assert_eq!(
            (to.clone(), unlock.evidence.clone()),
            (vec![ShardId(0)], por)
        );
        assert_eq!(
            net.abort(ShardId(0), &unlock),
            Ok(AbortOutcome::Applied {
                entry: Entry::Abort {
                    tx: xtx.id(),
                    shard: ShardId(0)
                },
                returned: Amount(100)
            })
        );
        assert_eq!(net.state(&a), Some(UtxoState::Unspent));
        assert_eq!(
            net.abort(ShardId(0), &unlock),
            Ok(AbortOutcome::AlreadyAborted)
        );
        assert_eq!(net.client_finishes(&xtx), Resolution::Done);
        assert_eq!(net.check_settled(std::slice::from_ref(&xtx)), (0, 1));
        // Alice's coin is spendable again.
        let retry = net.cross(&[(a, alice)], &[(carol, 100)]);
        assert!(matches!(
            net.lock(ShardId(0), &retry).unwrap().entry,
            Entry::Lock { .. }
        ));
    }

    /// Two transactions spending the same two inputs (one in shard 0, one in shard 1).
    fn conflicting_pair(net: &mut Net) -> (CrossTx, CrossTx) {
        let (alice, bob) = (wallet(0, 0), wallet(1, 0));
        let a = net.fund(alice, 100);
        let b = net.fund(bob, 100);
        let first = net.cross(&[(a, alice), (b, bob)], &[(wallet(2, 0), 200)]);
        let second = net.cross(&[(a, alice), (b, bob)], &[(wallet(2, 1), 199)]);
        (first, second)
    }

    #[test]
    fn conflicting_cross_shard_txs_locked_in_opposite_orders_both_abort() {
        let mut net = Net::new();
        let (first, second) = conflicting_pair(&mut net);
        // Shard 0 sees the first one first, shard 1 the second one.
        for (shard, xtx) in [(0, &first), (1, &second), (0, &second), (1, &first)] {
            net.lock(ShardId(shard), xtx).unwrap();
        }
        let both = [first.clone(), second.clone()];
        net.check_invariants(&both);
        for xtx in &both {
            assert_eq!(net.client_finishes(xtx), Resolution::Done);
        }
        assert_eq!(net.check_settled(&both), (0, 2));
    }

    #[test]
    fn conflicting_cross_shard_txs_locked_in_one_order_commit_exactly_one() {
        let mut net = Net::new();
        let (first, second) = conflicting_pair(&mut net);
        for (shard, xtx) in [(1, &first), (0, &first), (0, &second), (1, &second)] {
            net.lock(ShardId(shard), xtx).unwrap();
        }
        let both = [first.clone(), second.clone()];
        for xtx in [&second, &first] {
            assert_eq!(net.client_finishes(xtx), Resolution::Done);
        }
        // The second one was refused by both shards: nothing to return anywhere.
        assert_eq!(net.check_settled(&both), (1, 1));
        assert!(net.output_exists(&first, 0) && !net.output_exists(&second, 0));
    }

    #[test]
    fn coordinator_finishes_a_transaction_whose_client_never_unlocks() {
        let mut net = Net::new();
        let (alice, bob) = (wallet(0, 0), wallet(1, 0));
        let a = net.fund(alice, 70);
        let b = net.fund(bob, 30);
        let xtx = net.cross(&[(a, alice), (b, bob)], &[(wallet(2, 0), 100)]);
        let coordinator = xtx.coordinator().unwrap();
        assert_eq!(coordinator, net.holder[&a.min(b)]);
        net.lock(ShardId(0), &xtx).unwrap();
        net.lock(ShardId(1), &xtx).unwrap();
        net.seal_all();
        // The client goes silent. Before T_unlock nobody acts.
        assert_eq!(net.tick(T_UNLOCK - 1), 0);
        assert_eq!(net.state(&a), Some(UtxoState::Locked(xtx.id())));
        let backup = ShardId(1 - coordinator.0);
        assert_eq!(
            net.nodes[backup.0 as usize].atomix.role(&xtx.id()),
            Some(Role::Backup)
        );
        // At T_unlock only the coordinator acts: one resolution, the commit.
        assert_eq!(net.tick(T_UNLOCK), 1);
        assert!(net.output_exists(&xtx, 0));
        assert_eq!(net.state(&a), Some(UtxoState::Spent(xtx.id())));
        net.settle();
        assert_eq!(net.resolve(&xtx), Resolution::Done);
        assert_eq!(net.check_settled(&[xtx]), (1, 0));
    }

    #[test]
    fn backup_forwards_a_transaction_the_client_never_sent_to_the_coordinator() {
        let mut net = Net::new();
        let (alice, bob) = (wallet(0, 0), wallet(1, 0));
        let a = net.fund(alice, 70);
        let b = net.fund(bob, 30);
        let xtx = net.cross(&[(a, alice), (b, bob)], &[(wallet(2, 0), 100)]);
        let coordinator = xtx.coordinator().unwrap();
        let other = ShardId(1 - coordinator.0);
        // The client sends the transaction only to the shard that is not the coordinator.
        net.lock(other, &xtx).unwrap();
        net.seal_all();
        assert_eq!(net.tick(T_UNLOCK), 0, "the coordinator never heard of it");
        assert_eq!(net.tick(2 * T_UNLOCK), 1, "the backup forwards it");
        assert!(
            net.nodes[coordinator.0 as usize]
                .atomix
                .decision(&xtx.id())
                .is_some()
        );
        net.settle();
        assert_eq!(net.check_settled(&[xtx]), (1, 0));
    }

    #[test]
    fn forged_proofs_are_rejected_and_change_nothing() {
        let mut net = Net::new();
        let (alice, alice2, bob) = (wallet(0, 0), wallet(0, 1), wallet(1, 0));
        let a = net.fund(alice, 100);
        let c = net.fund(alice2, 40);
        let xtx = net.cross(&[(a, alice)], &[(bob, 100)]);
        let other = net.cross(&[(c, alice2)], &[(bob, 40)]);
        let id = xtx.id();
        net.lock(ShardId(0), &xtx).unwrap();
        net.lock(ShardId(0), &other).unwrap();
        net.seal_all();
        let Resolution::Commit { unlock, .. } = net.resolve(&xtx) else {
            panic!("locked");
        };
        let poa = unlock.poas[0].clone();
        let other_poa = net.proof_of(&net.nodes[0].in_blocks[1]);
        let before = net.snapshot();
        let keys = &federation().0;
        let with = |poas: Vec<EntryProof>| UnlockToCommit {
            xtx: xtx.clone(),
            poas,
        };
        let bad_cosig = |error| AtomixError::Proof {
            shard: ShardId(0),
            error: ProofError::BadCosig(error),
        };

        // A PoA in a block signed by keys that are not shard 0's roster.
        let foreign = forged_proof(poa.entry, 0, &keys[2], &Signers::all(ROSTER_LEN));
        assert_eq!(
            net.commit(ShardId(1), &with(vec![foreign])),
            Err(bad_cosig(CosiError::InvalidSignature))
        );
        // Signed by two of shard 0's four members: below the threshold.
        let minority = forged_proof(poa.entry, 0, &keys[0], &Signers::from_indices(4, [0, 1]));
        assert_eq!(
            net.commit(ShardId(1), &with(vec![minority])),
            Err(bad_cosig(CosiError::BelowThreshold {
                signers: 2,
                required: 3
            }))
        );
        // A real PoA of another transaction.
        assert_eq!(
            net.commit(ShardId(1), &with(vec![other_poa.clone()])),
            Err(AtomixError::WrongTx {
                expected: id,
                got: other.id()
            })
        );
        // A PoA from a shard the transaction does not name (even a validly signed one).
        let Entry::Lock {
            value, declaration, ..
        } = poa.entry
        else {
            panic!("a PoA");
        };
        let stranger = Entry::Lock {
            tx: id,
            shard: ShardId(2),
            value,
            declaration,
        };
        let stranger = forged_proof(stranger, 0, &keys[2], &Signers::all(ROSTER_LEN));
        assert_eq!(
            stranger.verify(rosters().roster(ShardId(2), Epoch(0), Height(99)).unwrap()),
            Ok(())
        );
        assert_eq!(
            net.commit(ShardId(1), &with(vec![poa.clone(), stranger])),
            Err(AtomixError::ShardNotNamed {
                tx: id,
                shard: ShardId(2)
            })
        );
        // The right entry with the path of its neighbour in the block.
        let mut wrong_path = poa.clone();
        wrong_path.path = other_poa.path.clone();
        assert_eq!(
            net.commit(ShardId(1), &with(vec![wrong_path])),
            Err(AtomixError::Proof {
                shard: ShardId(0),
                error: ProofError::PathMismatch
            })
        );
        // An inflated value: refused before any signature is checked.
        let mut inflated = poa.clone();
        inflated.entry = Entry::Lock {
            tx: id,
            shard: ShardId(0),
            value: Amount(1000),
            declaration,
        };
        assert_eq!(
            net.commit(ShardId(1), &with(vec![inflated])),
            Err(AtomixError::ValueMismatch {
                shard: ShardId(0),
                declared: Amount(100),
                locked: Amount(1000)
            })
        );
        // The certificate of another block; a block of an epoch with no known roster.
        let mut swapped = poa.clone();
        swapped.certificate = forged_proof(poa.entry, 0, &keys[0], &Signers::all(4)).certificate;
        assert_eq!(
            net.commit(ShardId(1), &with(vec![swapped])),
            Err(AtomixError::Proof {
                shard: ShardId(0),
                error: ProofError::CertificateMismatch
            })
        );
        let later = forged_proof(poa.entry, 1, &keys[0], &Signers::all(ROSTER_LEN));
        assert_eq!(
            net.commit(ShardId(1), &with(vec![later])),
            Err(AtomixError::Proof {
                shard: ShardId(0),
                error: ProofError::UnknownRoster {
                    shard: ShardId(0),
                    epoch: Epoch(1),
                    height: Height(99)
                }
            })
        );
        // An entry of shard 0 claimed in a block of shard 1.
        let mut moved = forged_proof(poa.entry, 0, &keys[0], &Signers::all(4));
        moved.header.shard = ShardId(1);
        assert_eq!(
            net.client.verify(&moved, rosters()),
            Err(ProofError::WrongShard {
                entry: ShardId(0),
                block: ShardId(1)
            })
        );

        // Unlock-to-abort without a PoR: a PoA of the lock itself, a forged PoR, a PoR
        // of another transaction.
        let abort_with = |evidence| UnlockToAbort { tx: id, evidence };
        assert_eq!(
            net.abort(ShardId(0), &abort_with(poa.clone())),
            Err(AtomixError::NotAbortEvidence {
                shard: ShardId(0),
                kind: "lock"
            })
        );
        let fake_refusal = Entry::Reject {
            tx: id,
            shard: ShardId(0),
            reason: Refusal::DoubleSpend,
        };
        let fake_por = forged_proof(fake_refusal, 0, &keys[1], &Signers::all(ROSTER_LEN));
        assert_eq!(
            net.abort(ShardId(0), &abort_with(fake_por)),
            Err(bad_cosig(CosiError::InvalidSignature))
        );
        assert_eq!(
            net.abort(ShardId(0), &abort_with(other_poa)),
            Err(AtomixError::WrongTx {
                expected: id,
                got: other.id()
            })
        );
        assert!(net.snapshot() == before, "a refused unlock changed state");
        net.check_invariants(&[xtx.clone(), other.clone()]);

        // The genuine unlock still goes through.
        assert_eq!(net.client_finishes(&xtx), Resolution::Done);
        assert_eq!(net.client_finishes(&other), Resolution::Done);
        assert_eq!(net.check_settled(&[xtx, other]), (2, 0));
    }

    #[test]
    fn replayed_commit_and_lock_change_nothing() {
        let mut net = Net::new();
        let (alice, bob) = (wallet(0, 0), wallet(1, 0));
        let a = net.fund(alice, 100);
        let xtx = net.cross(&[(a, alice)], &[(bob, 60), (alice, 40)]);
        let first = net.lock(ShardId(0), &xtx).unwrap();
        net.seal_all();
        let Resolution::Commit { unlock, to } = net.resolve(&xtx) else {
            panic!("locked");
        };
        for shard in &to {
            applied(net.commit(*shard, &unlock).unwrap());
        }
        net.seal_all();
        let before = net.snapshot();
        for shard in &to {
            assert_eq!(
                net.commit(*shard, &unlock),
                Ok(CommitOutcome::AlreadyCommitted)
            );
        }
        // A copy with its witnesses stripped is the same transaction: still a replay.
        let mut stripped = unlock.clone();
        stripped.xtx.tx.witnesses.clear();
        assert_eq!(
            net.commit(ShardId(1), &stripped),
            Ok(CommitOutcome::AlreadyCommitted)
        );
        // A replayed lock request returns the first decision.
        assert_eq!(
            net.lock(ShardId(0), &xtx),
            Ok(Decided {
                entry: first.entry,
                fresh: false
            })
        );
        // A shard with nothing to do for the transaction ignores it.
        assert_eq!(
            net.commit(ShardId(2), &unlock),
            Ok(CommitOutcome::NotInvolved)
        );
        assert!(net.snapshot() == before, "a replay changed state");
        assert_eq!(net.check_settled(&[xtx]), (1, 0));
    }

    #[test]
    fn duplicate_and_out_of_order_unlock_delivery() {
        // Commit: the output shard hears first, then the input shard, each twice.
        let mut net = Net::new();
        let (alice, bob) = (wallet(0, 0), wallet(1, 0));
        let a = net.fund(alice, 100);
        let xtx = net.cross(&[(a, alice)], &[(bob, 100)]);
        net.lock(ShardId(0), &xtx).unwrap();
        net.seal_all();
        let Resolution::Commit { unlock, .. } = net.resolve(&xtx) else {
            panic!("locked");
        };
        for shard in [1, 1, 0, 0, 1] {
            net.commit(ShardId(shard), &unlock).unwrap();
            net.check_invariants(std::slice::from_ref(&xtx));
        }
        assert_eq!(net.nodes[1].pending.len(), 1, "one commit entry");
        assert_eq!(net.client_finishes(&xtx), Resolution::Done);
        assert_eq!(net.check_settled(std::slice::from_ref(&xtx)), (1, 0));

        // Abort: the unlock-to-abort reaches shard 0 before its lock request does.
        let mut net = Net::new();
        let b = net.fund(bob, 100);
        let a = net.fund(alice, 100);
        let xtx = net.cross(&[(a, alice), (b, bob)], &[(wallet(2, 0), 200)]);
        net.spend_locally(b, bob, bob, 100);
        let refused = net.lock(ShardId(1), &xtx).unwrap().entry;
        net.seal_all();
        // Nobody locked: nothing to abort yet.
        assert_eq!(net.resolve(&xtx), Resolution::Done);
        let unlock = UnlockToAbort {
            tx: xtx.id(),
            evidence: net.proof_of(&refused),
        };
        assert_eq!(net.abort(ShardId(0), &unlock), Ok(AbortOutcome::NotLocked));
        // The delayed lock request arrives: shard 0 locks, and the abort must follow.
        net.lock(ShardId(0), &xtx).unwrap();
        net.check_invariants(std::slice::from_ref(&xtx));
        net.seal_all();
        assert!(
            matches!(net.resolve(&xtx), Resolution::Abort { ref to, .. } if *to == vec![ShardId(0)])
        );
        for _ in 0..2 {
            net.abort(ShardId(0), &unlock).unwrap();
            net.check_invariants(std::slice::from_ref(&xtx));
        }
        assert_eq!(net.nodes[0].pending.len(), 1, "one abort entry");
        assert_eq!(net.client_finishes(&xtx), Resolution::Done);
        assert_eq!(net.check_settled(std::slice::from_ref(&xtx)), (0, 1));
    }

    #[test]
    fn a_lock_under_another_declaration_is_abort_evidence() {
        let mut net = Net::new();
        let (alice, bob) = (wallet(0, 0), wallet(1, 0));
        let a = net.fund(alice, 100);
        let b = net.fund(bob, 50);
        let honest = net.cross(&[(a, alice), (b, bob)], &[(wallet(2, 0), 150)]);
        // Someone sends shard 0 a copy declaring Bob's input at 51: shard 0's part is
        // unchanged, so it locks, under that declaration.
        let mut other = honest.clone();
        other.declared[1].amount = Amount(51);
        net.lock(ShardId(0), &other).unwrap();
        net.lock(ShardId(1), &honest).unwrap();
        net.seal_all();
        let both = [honest.clone(), other.clone()];
        // Neither declaration can commit; each side's lock is evidence for the other.
        let Resolution::Abort { unlock, to } = net.resolve(&honest) else {
            panic!("conflicting declarations");
        };
        assert_eq!(to, vec![ShardId(1)]);
        assert!(matches!(
            unlock.evidence.entry,
            Entry::Lock {
                shard: ShardId(0),
                ..
            }
        ));
        let poas = vec![
            net.proof_of(&net.nodes[0].in_blocks[0]),
            net.proof_of(&net.nodes[1].in_blocks[0]),
        ];
        assert_eq!(
            net.commit(
                ShardId(2),
                &UnlockToCommit {
                    xtx: honest.clone(),
                    poas
                }
            ),
            Err(AtomixError::DeclarationMismatch { shard: ShardId(0) })
        );
        net.deliver(&Resolution::Abort { unlock, to });
        net.settle();
        assert_eq!(net.check_settled(&both), (0, 1));
    }

    #[test]
    fn a_refusal_by_a_shard_the_declaration_does_not_name_is_no_abort_evidence() {
        let mut net = Net::new();
        let (alice, bob) = (wallet(0, 0), wallet(1, 0));
        let a = net.fund(alice, 100);
        let b1 = net.fund(bob, 50);
        let b2 = net.fund(bob, 50);
        let honest = net.cross(&[(a, alice), (b1, bob), (b2, bob)], &[(wallet(2, 0), 200)]);
        // A copy declaring one of Bob's inputs in shard 2, which refuses it.
        let mut stray = honest.clone();
        stray.declared[2].shard = ShardId(2);
        let refused = net.lock(ShardId(2), &stray).unwrap().entry;
        assert!(matches!(
            refused,
            Entry::Reject {
                reason: Refusal::UnknownInput,
                ..
            }
        ));
        net.lock(ShardId(0), &honest).unwrap();
        net.lock(ShardId(1), &honest).unwrap();
        net.seal_all();
        let unlock = UnlockToAbort {
            tx: honest.id(),
            evidence: net.proof_of(&refused),
        };
        let before = net.snapshot();
        for shard in [0, 1] {
            assert_eq!(
                net.abort(ShardId(shard), &unlock),
                Err(AtomixError::ShardNotNamed {
                    tx: honest.id(),
                    shard: ShardId(2)
                })
            );
        }
        assert!(net.snapshot() == before);
        // The client's resolution ignores it and commits.
        assert!(matches!(net.resolve(&honest), Resolution::Commit { .. }));
        assert_eq!(net.client_finishes(&honest), Resolution::Done);
        assert_eq!(net.check_settled(&[honest, stray]), (1, 0));
    }

    #[test]
    fn an_equivocating_roster_is_reported_as_a_conflict_by_its_own_shard() {
        // Outside the threat model (a third or more of a roster Byzantine, PROTOCOL.md
        // §5.8): shard 1 refuses, and its roster also signs a lock. Other shards cannot
        // tell; shard 1 itself refuses the commit as a conflict and changes nothing.
        let mut net = Net::new();
        let (alice, bob) = (wallet(0, 0), wallet(1, 0));
        let a = net.fund(alice, 100);
        let b = net.fund(bob, 100);
        let xtx = net.cross(&[(a, alice), (b, bob)], &[(wallet(2, 0), 200)]);
        net.spend_locally(b, bob, bob, 100);
        net.lock(ShardId(0), &xtx).unwrap();
        assert!(matches!(
            net.lock(ShardId(1), &xtx).unwrap().entry,
            Entry::Reject { .. }
        ));
        net.seal_all();
        let equivocation = Entry::Lock {
            tx: xtx.id(),
            shard: ShardId(1),
            value: Amount(100),
            declaration: xtx.declaration_hash(xtx.id()),
        };
        let forged = forged_proof(equivocation, 0, &federation().0[1], &Signers::all(4));
        let unlock = UnlockToCommit {
            xtx: xtx.clone(),
            poas: vec![net.proof_of(&net.nodes[0].in_blocks[0]), forged],
        };
        let before = net.snapshot();
        assert_eq!(
            net.commit(ShardId(1), &unlock),
            Err(AtomixError::Conflict {
                tx: xtx.id(),
                detail: "a PoA of this shard that differs from its decision"
            })
        );
        assert!(net.snapshot() == before);
    }

    #[test]
    fn lock_refusals_name_their_reason_and_malformed_requests_decide_nothing() {
        let mut net = Net::new();
        let (alice, alice2, bob) = (wallet(0, 0), wallet(0, 1), wallet(1, 0));
        let coins: Vec<OutPoint> = (0..6).map(|_| net.fund(alice, 10)).collect();
        let refusal = |net: &mut Net, xtx: &CrossTx| match net.lock(ShardId(0), xtx).unwrap().entry
        {
            Entry::Reject { reason, .. } => reason,
            other => panic!("locked: {other:?}"),
        };
        let mut misdeclared = net.cross(&[(coins[0], alice)], &[(bob, 5)]);
        misdeclared.declared[0].amount = Amount(11);
        assert_eq!(refusal(&mut net, &misdeclared), Refusal::Misdeclared);
        let mut bad_sig = net.cross(&[(coins[1], alice)], &[(bob, 5)]);
        bad_sig.tx.witnesses[0].signature[5] ^= 1;
        assert_eq!(refusal(&mut net, &bad_sig), Refusal::BadSignature);
        // Signed by another owner of the same shard: the input's owner has no witness.
        let mut wrong = net.cross(&[(coins[2], alice)], &[(bob, 5)]);
        wrong.tx =
            Transaction::signed(wrong.tx.inputs.clone(), wrong.tx.outputs.clone(), &[alice2]);
        assert_eq!(refusal(&mut net, &wrong), Refusal::WrongWitness);
        // An extra witness of this shard owning no input.
        let mut extra = net.cross(&[(coins[3], alice)], &[(bob, 5)]);
        extra.tx = Transaction::signed(
            extra.tx.inputs.clone(),
            extra.tx.outputs.clone(),
            &[alice, alice2],
        );
        assert_eq!(refusal(&mut net, &extra), Refusal::WrongWitness);
        let mut unknown = net.cross(&[(coins[4], alice)], &[(bob, 5)]);
        unknown.tx = Transaction::signed(
            vec![OutPoint {
                tx: TxId(Hash([7; 32])),
                index: 0,
            }],
            unknown.tx.outputs.clone(),
            &[alice],
        );
        assert_eq!(refusal(&mut net, &unknown), Refusal::UnknownInput);

        // Malformed requests: errors, no decision, nothing locked.
        let good = net.cross(&[(coins[5], alice)], &[(bob, 5)]);
        let mut short = good.clone();
        short.declared.clear();
        let mut far = good.clone();
        far.declared[0].shard = ShardId(7);
        let mut greedy = good.clone();
        greedy.declared[0].amount = Amount(4);
        let mut stranger = good.clone();
        stranger.tx = Transaction::signed(
            good.tx.inputs.clone(),
            good.tx.outputs.clone(),
            &[alice, bob],
        );
        let cases = [
            (
                short,
                CrossTxError::DeclarationLength {
                    inputs: 1,
                    declared: 0,
                },
            ),
            (
                far,
                CrossTxError::ShardOutOfRange {
                    index: 0,
                    shard: ShardId(7),
                    shard_count: SHARDS,
                },
            ),
            (
                greedy,
                CrossTxError::Overspend {
                    inputs: Amount(4),
                    outputs: Amount(5),
                },
            ),
            (
                stranger,
                CrossTxError::UnusedWitness {
                    owner: owner_of(bob),
                    shard: ShardId(1),
                },
            ),
        ];
        for (xtx, error) in cases {
            assert_eq!(net.lock(ShardId(0), &xtx), Err(AtomixError::CrossTx(error)));
        }
        assert_eq!(
            net.lock(ShardId(1), &good),
            Err(AtomixError::NotInputShard {
                tx: good.id(),
                shard: ShardId(1)
            })
        );
        assert!(net.nodes[0].atomix.decision(&good.id()).is_none());
        assert_eq!(net.nodes[0].utxo.locked_value(), 0);
        assert!(matches!(
            net.lock(ShardId(0), &good).unwrap().entry,
            Entry::Lock { .. }
        ));
    }

    #[test]
    fn verifier_checks_each_certificate_once() {
        let mut net = Net::new();
        let alice = wallet(0, 0);
        let txs: Vec<CrossTx> = (0..3)
            .map(|i| {
                let coin = net.fund(alice, 10 + i);
                net.cross(&[(coin, alice)], &[(wallet(1, 0), 10)])
            })
            .collect();
        for xtx in &txs {
            net.lock(ShardId(0), xtx).unwrap();
        }
        net.seal_all();
        let mut verifier = ProofVerifier::new(1);
        for proof in &net.published {
            verifier.verify(proof, rosters()).unwrap();
        }
        assert_eq!(
            verifier.stats(),
            VerifierStats {
                cosigs_verified: 1,
                cosigs_cached: 2,
                proofs_verified: 3
            }
        );
        // A proof into another block evicts the only slot; the first block is checked
        // again afterwards.
        let other = forged_proof(
            net.published[0].entry,
            0,
            &federation().0[0],
            &Signers::all(4),
        );
        verifier.verify(&other, rosters()).unwrap();
        verifier.verify(&net.published[0], rosters()).unwrap();
        assert_eq!(verifier.stats().cosigs_verified, 3);
        // A failed certificate is not cached.
        let forged = forged_proof(
            net.published[0].entry,
            0,
            &federation().0[1],
            &Signers::all(4),
        );
        for _ in 0..2 {
            assert!(verifier.verify(&forged, rosters()).is_err());
        }
        assert_eq!(verifier.stats().cosigs_verified, 5);
    }

    #[test]
    fn encodings_round_trip() {
        let mut net = Net::new();
        let alice = wallet(0, 0);
        let coin = net.fund(alice, 100);
        let xtx = net.cross(&[(coin, alice)], &[(wallet(1, 0), 100)]);
        assert_eq!(CrossTx::from_bytes(&xtx.to_bytes()), Ok(xtx.clone()));
        let tx = xtx.id();
        let entries = [
            Entry::Lock {
                tx,
                shard: ShardId(1),
                value: Amount(5),
                declaration: Hash([3; 32]),
            },
            Entry::Reject {
                tx,
                shard: ShardId(2),
                reason: Refusal::Misdeclared,
            },
            Entry::Commit {
                tx,
                shard: ShardId(0),
            },
            Entry::Abort {
                tx,
                shard: ShardId(2),
            },
        ];
        let mut hashes = Vec::new();
        for entry in entries {
            let bytes = entry.to_bytes();
            assert!(bytes.len() <= Entry::ENCODED_LEN_MAX);
            assert_eq!(Entry::from_bytes(&bytes), Ok(entry));
            assert_eq!(entry.hash(), Domain::AtomixEntry.hash(&bytes));
            hashes.push(entry.hash());
        }
        hashes.dedup();
        assert_eq!(hashes.len(), 4);
        for reason in Refusal::ALL {
            assert_eq!(Refusal::from_code(reason.code()), Some(reason));
        }
        assert_eq!(
            Entry::from_bytes(&[9; 37]),
            Err(DecodeError::Invalid { what: "entry kind" })
        );
        net.lock(ShardId(0), &xtx).unwrap();
        net.seal_all();
        let proof = net.published[0].clone();
        let bytes = proof.to_bytes();
        assert_eq!(EntryProof::from_bytes(&bytes, rosters()), Ok(proof.clone()));
        // A Lock PoA for a roster of 4: entry 77 + header 152 + certificate 97 + path 10.
        assert_eq!(bytes.len(), 77 + 152 + 97 + 10);
        assert!(EntryProof::from_bytes(&bytes[..bytes.len() - 1], rosters()).is_err());
        assert!(EntryProof::from_bytes(&bytes, &RosterBook::new()).is_err());
    }

    // ---------------------------------------------------------------------------------
    // Property test: random interleavings of concurrent cross-shard transactions.

    /// Coins at genesis: two per wallet, six wallets (two per shard).
    const COINS: usize = 12;

    #[derive(Clone, Copy, Debug)]
    enum Fault {
        None,
        /// The first witness's signature is corrupted.
        BadSignature,
        /// The first input is declared one unit larger than it is.
        Misdeclared,
        /// Some lock requests carry a copy declaring the last input one unit larger.
        OtherAmount,
        /// Some lock requests carry a copy declaring the last input in the next shard.
        OtherShard,
    }

    #[derive(Clone, Debug)]
    struct Plan {
        inputs: Vec<usize>,
        /// (wallet index 0..6, weight) per output.
        outputs: Vec<(usize, u8)>,
        /// Fee in percent of the inputs (large fees let a commit missing a PoA still
        /// cover its outputs, so only the PoA check can refuse it).
        fee_percent: u64,
        fault: Fault,
    }

    #[derive(Clone, Debug)]
    enum Step {
        /// A lock request of a transaction to one of its named shards (or, rarely, to
        /// any shard); `variant` picks the second declaration if there is one.
        Lock {
            tx: usize,
            to: u8,
            variant: bool,
        },
        Seal {
            shard: u32,
        },
        /// The client resolves and sends to the destinations whose bit is set in `mask`.
        Unlock {
            tx: usize,
            mask: u8,
        },
        /// Re-delivers an earlier delivery.
        Replay {
            pick: prop::sample::Index,
        },
        /// Coordinator duties on every shard, `since` blocks after the last proof.
        Tick {
            since: u64,
        },
        /// A Byzantine client sends an unlock-to-commit with the real PoAs published for
        /// the transaction under any declaration, one per shard, dropping the one at
        /// `skip` if `drop`, to one involved shard.
        ForgeCommit {
            tx: usize,
            variant: bool,
            drop: bool,
            skip: prop::sample::Index,
            to: u8,
        },
        /// Front-running: an attacker sends the transaction's other declaration (if it
        /// has one) to the `first` named shard and to the shards only it names, the
        /// client its own to the other shards.
        Race {
            tx: usize,
            first: u8,
        },
        /// A Byzantine client sends an unlock-to-abort with any real proof about the
        /// transaction as evidence, to one shard named by some declaration.
        ForgeAbort {
            tx: usize,
            pick: prop::sample::Index,
            to: u8,
        },
    }

    fn plan() -> impl Strategy<Value = Plan> {
        (
            prop::sample::subsequence((0..COINS).collect::<Vec<_>>(), 1..=3),
            prop::collection::vec((0usize..6, 1u8..4), 1..=3),
            prop_oneof![0u64..5, 30u64..=60],
            prop_oneof![
                5 => Just(Fault::None),
                1 => Just(Fault::BadSignature),
                1 => Just(Fault::Misdeclared),
                3 => Just(Fault::OtherAmount),
                3 => Just(Fault::OtherShard),
            ],
        )
            .prop_map(|(inputs, outputs, fee_percent, fault)| Plan {
                inputs,
                outputs,
                fee_percent,
                fault,
            })
    }

    fn step(txs: usize) -> impl Strategy<Value = Step> {
        prop_oneof![
            6 => (0..txs, any::<u8>(), any::<bool>())
                .prop_map(|(tx, to, variant)| Step::Lock { tx, to, variant }),
            4 => (0..SHARDS).prop_map(|shard| Step::Seal { shard }),
            4 => (0..txs, any::<u8>()).prop_map(|(tx, mask)| Step::Unlock { tx, mask }),
            2 => any::<prop::sample::Index>().prop_map(|pick| Step::Replay { pick }),
            2 => (0..=2 * T_UNLOCK).prop_map(|since| Step::Tick { since }),
            3 => (0..txs, any::<bool>(), any::<bool>(), any::<prop::sample::Index>(), any::<u8>())
                .prop_map(|(tx, variant, drop, skip, to)| Step::ForgeCommit { tx, variant, drop, skip, to }),
            3 => (0..txs, any::<prop::sample::Index>(), any::<u8>())
                .prop_map(|(tx, pick, to)| Step::ForgeAbort { tx, pick, to }),
            3 => (0..txs, any::<u8>()).prop_map(|(tx, first)| Step::Race { tx, first }),
        ]
    }

    fn scenario() -> impl Strategy<Value = (Vec<Plan>, Vec<Step>)> {
        prop::collection::vec(plan(), 2..=5).prop_flat_map(|plans| {
            let txs = plans.len();
            (Just(plans), prop::collection::vec(step(txs), 20..60))
        })
    }

    /// A delivered unlock, kept for replays.
    #[derive(Clone, Debug)]
    enum Delivery {
        Commit(ShardId, UnlockToCommit, CommitOutcome),
        Abort(ShardId, Box<UnlockToAbort>, AbortOutcome),
    }

    /// Builds the transactions of `plans` over the genesis coins; each entry of the
    /// result lists a transaction's declarations (one, or two with TwoDeclarations).
    fn build(net: &mut Net, plans: &[Plan]) -> Vec<Vec<CrossTx>> {
        let keys: Vec<&SigningKey> = (0..SHARDS)
            .flat_map(|s| (0..WALLETS_PER_SHARD).map(move |i| wallet(s, i)))
            .collect();
        let coins: Vec<(OutPoint, &SigningKey)> = (0..COINS)
            .map(|c| {
                let key = keys[c / 2];
                (net.fund(key, 40 + 10 * c as u64), key)
            })
            .collect();
        plans
            .iter()
            .map(|plan| {
                let inputs: Vec<(OutPoint, &SigningKey)> =
                    plan.inputs.iter().map(|&c| coins[c]).collect();
                let total: u64 = plan.inputs.iter().map(|&c| 40 + 10 * c as u64).sum();
                let budget = total - total * plan.fee_percent / 100;
                let weights: u64 = plan.outputs.iter().map(|(_, w)| u64::from(*w)).sum();
                let mut outputs: Vec<(&SigningKey, u64)> = plan
                    .outputs
                    .iter()
                    .map(|(wallet, w)| (keys[*wallet], budget * u64::from(*w) / weights))
                    .collect();
                let rest = budget - outputs.iter().map(|(_, a)| a).sum::<u64>();
                outputs[0].1 += rest;
                let mut xtx = net.cross(&inputs, &outputs);
                match plan.fault {
                    Fault::None => vec![xtx],
                    Fault::BadSignature => {
                        xtx.tx.witnesses[0].signature[0] ^= 1;
                        vec![xtx]
                    }
                    Fault::Misdeclared => {
                        xtx.declared[0].amount.0 += 1;
                        vec![xtx]
                    }
                    Fault::OtherAmount => {
                        let mut other = xtx.clone();
                        other.declared.last_mut().unwrap().amount.0 += 1;
                        vec![xtx, other]
                    }
                    Fault::OtherShard => {
                        let mut other = xtx.clone();
                        let last = other.declared.last_mut().unwrap();
                        last.shard = ShardId((last.shard.0 + 1) % SHARDS);
                        vec![xtx, other]
                    }
                }
            })
            .collect()
    }

    fn run(plans: &[Plan], steps: &[Step]) -> Result<(), TestCaseError> {
        let mut net = Net::new();
        let variants = build(&mut net, plans);
        let all: Vec<CrossTx> = variants.iter().flatten().cloned().collect();
        let mut log: Vec<Delivery> = Vec::new();
        for step in steps {
            match step {
                Step::Lock { tx, to, variant } => {
                    let xtx = &variants[*tx][usize::from(*variant) % variants[*tx].len()];
                    let named = xtx.input_shards();
                    let shard = if *to < 224 {
                        named[usize::from(*to) % named.len()]
                    } else {
                        ShardId(u32::from(*to) % SHARDS)
                    };
                    match net.lock(shard, xtx) {
                        Ok(_) => {}
                        Err(AtomixError::NotInputShard { .. }) => {
                            prop_assert!(!named.contains(&shard))
                        }
                        // A declaration that leaves a witness's shard unnamed.
                        Err(AtomixError::CrossTx(_)) => prop_assert!(xtx.check(SHARDS).is_err()),
                        Err(error) => prop_assert!(false, "lock failed: {error}"),
                    }
                }
                Step::Seal { shard } => net.seal(*shard),
                Step::Unlock { tx, mask } => {
                    let xtx = variants[*tx][0].clone();
                    match net.resolve(&xtx) {
                        Resolution::Done => {}
                        Resolution::Forward { xtx, to } => {
                            for (i, shard) in to.iter().enumerate() {
                                if mask & (1 << i) != 0 {
                                    net.lock(*shard, &xtx).unwrap();
                                }
                            }
                        }
                        Resolution::Commit { unlock, to } => {
                            for (i, shard) in to.iter().enumerate() {
                                if mask & (1 << i) != 0 {
                                    let outcome = net.commit(*shard, &unlock).unwrap();
                                    log.push(Delivery::Commit(*shard, unlock.clone(), outcome));
                                }
                            }
                        }
                        Resolution::Abort { unlock, to } => {
                            for (i, shard) in to.iter().enumerate() {
                                if mask & (1 << i) != 0 {
                                    let outcome = net.abort(*shard, &unlock).unwrap();
                                    log.push(Delivery::Abort(*shard, unlock.clone(), outcome));
                                }
                            }
                        }
                    }
                }
                Step::Replay { pick } => {
                    if log.is_empty() {
                        continue;
                    }
                    let before = net.snapshot();
                    match log[pick.index(log.len())].clone() {
                        Delivery::Commit(shard, unlock, first) => {
                            let again = net.commit(shard, &unlock).unwrap();
                            if matches!(first, CommitOutcome::Applied { .. }) {
                                prop_assert_eq!(again, CommitOutcome::AlreadyCommitted);
                                prop_assert!(
                                    net.snapshot() == before,
                                    "A5: replayed commit changed state"
                                );
                            }
                        }
                        Delivery::Abort(shard, unlock, first) => {
                            let again = net.abort(shard, &unlock).unwrap();
                            if matches!(first, AbortOutcome::Applied { .. }) {
                                prop_assert_eq!(again, AbortOutcome::AlreadyAborted);
                                prop_assert!(
                                    net.snapshot() == before,
                                    "A5: replayed abort changed state"
                                );
                            }
                        }
                    }
                }
                Step::Tick { since } => {
                    net.tick(*since);
                }
                Step::ForgeCommit {
                    tx,
                    variant,
                    drop,
                    skip,
                    to,
                } => {
                    let xtx = &variants[*tx][usize::from(*variant) % variants[*tx].len()];
                    let mut poas: Vec<EntryProof> = Vec::new();
                    for proof in &net.published {
                        if proof.entry.tx() == xtx.id()
                            && matches!(proof.entry, Entry::Lock { .. })
                            && !poas.iter().any(|p| p.entry.shard() == proof.entry.shard())
                        {
                            poas.push(proof.clone());
                        }
                    }
                    if *drop && !poas.is_empty() {
                        poas.remove(skip.index(poas.len()));
                    }
                    let involved = xtx.involved_shards(SHARDS);
                    let shard = involved[usize::from(*to) % involved.len()];
                    let unlock = UnlockToCommit {
                        xtx: xtx.clone(),
                        poas,
                    };
                    // Refused or applied: either way the invariants must hold.
                    let _ = net.commit(shard, &unlock);
                }
                Step::Race { tx, first } => {
                    let (honest, other) = (&variants[*tx][0], variants[*tx].last().unwrap());
                    let named = honest.input_shards();
                    let first = named[usize::from(*first) % named.len()];
                    let mut targets: Vec<ShardId> = other.input_shards();
                    targets.retain(|s| !named.contains(s));
                    targets.extend(named.iter().copied());
                    for shard in targets {
                        let xtx = if shard == first || !named.contains(&shard) {
                            other
                        } else {
                            honest
                        };
                        match net.lock(shard, xtx) {
                            Ok(_) => {}
                            Err(AtomixError::NotInputShard { .. }) => {
                                prop_assert!(!xtx.input_shards().contains(&shard))
                            }
                            Err(AtomixError::CrossTx(_)) => {
                                prop_assert!(xtx.check(SHARDS).is_err())
                            }
                            Err(error) => prop_assert!(false, "lock failed: {error}"),
                        }
                    }
                }
                Step::ForgeAbort { tx, pick, to } => {
                    let xtx = &variants[*tx][0];
                    let about: Vec<EntryProof> = net
                        .published
                        .iter()
                        .filter(|p| p.entry.tx() == xtx.id())
                        .cloned()
                        .collect();
                    if about.is_empty() {
                        continue;
                    }
                    let named: Vec<ShardId> = variants[*tx]
                        .iter()
                        .flat_map(CrossTx::input_shards)
                        .collect();
                    let unlock = UnlockToAbort {
                        tx: xtx.id(),
                        evidence: about[pick.index(about.len())].clone(),
                    };
                    let _ = net.abort(named[usize::from(*to) % named.len()], &unlock);
                }
            }
            net.check_invariants(&all);
        }
        net.settle();
        net.check_settled(&all);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn random_interleavings_keep_a1_to_a6((plans, steps) in scenario()) {
            run(&plans, &steps)?;
        }

        #[test]
        fn decoding_random_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let _ = Entry::from_bytes(&bytes);
            let _ = CrossTx::from_bytes(&bytes);
            let _ = EntryProof::from_bytes(&bytes, rosters());
        }
    }
}
