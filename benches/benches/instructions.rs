//! Instruction counts of the hot paths under valgrind (gungraun, callgrind): the
//! deterministic tier of the regression gate (`scripts/regression.sh --tier a`, baselines
//! in `reports/baselines/instructions.json`, BENCHMARKING.md rule 8).
//!
//! Run: `cargo bench -p ioschain-benches --bench instructions` (needs valgrind and
//! `cargo install gungraun-runner --version 0.20.0 --locked`, the version of the
//! `gungraun` dependency). Each bench's `setup` function builds its inputs with the
//! builders of `ioschain_benches` (shared with the criterion benches in `core.rs`); only
//! the body of the bench function is counted, and each returns its inputs so that
//! dropping them is not counted either.

use std::hint::black_box;

use crossbeam::channel::{Receiver, Sender, bounded};
use gungraun::{library_benchmark, library_benchmark_group, main};
use ioschain_benches::{CosiFixture, SigEntry, cosi_fixture, merkle_leaves, owner, signed_entries};
use ioschain_benches::{signing_key, utxo_set};
use ioschain_core::crypto::cosi::{CoSignature, sign_round};
use ioschain_core::crypto::sig::BatchVerifier;
use ioschain_core::merkle;
use ioschain_core::tx::{Transaction, TxOut};
use ioschain_core::types::{Amount, Hash, OutPoint};
use ioschain_core::utxo::UtxoSet;

/// Entries to verify, a verifier with room for them, and the list of bad tags.
type SigInput = (Vec<SigEntry>, BatchVerifier, Vec<u32>);

fn sig_input(size: usize) -> SigInput {
    (
        signed_entries(size),
        BatchVerifier::with_capacity(size, [3; 32]),
        Vec::new(),
    )
}

// `sig::verify_batch`: push a batch of honest signatures into the engine's verifier and
// verify them (one batch equation).
#[library_benchmark]
#[bench::size_256(args = (256), setup = sig_input)]
fn sig_verify_batch((entries, mut verifier, mut bad): SigInput) -> SigInput {
    for (i, (message, signature, key)) in black_box(&entries).iter().enumerate() {
        verifier.push(*message, signature, *key, i as u32);
    }
    verifier.verify(&mut bad);
    assert!(bad.is_empty());
    (entries, verifier, bad)
}

/// The entries of [`sig_input`] as ed25519-dalek's `verify_batch` takes them.
type DalekInput = (
    Vec<[u8; 32]>,
    Vec<ed25519_dalek::Signature>,
    Vec<ed25519_dalek::VerifyingKey>,
);

fn dalek_input(size: usize) -> DalekInput {
    let entries = signed_entries(size);
    (
        entries.iter().map(|e| e.0).collect(),
        entries
            .iter()
            .map(|e| ed25519_dalek::Signature::from_bytes(&e.1))
            .collect(),
        entries
            .iter()
            .map(|e| ed25519_dalek::VerifyingKey::from_bytes(e.2.as_bytes()).expect("a key"))
            .collect(),
    )
}

// `sig::verify_batch_dalek`: the same batch through ed25519-dalek's own `verify_batch`
// (cofactorless, batch-dependent verdicts: never used to verify). The reference the
// ZIP-215 verifier above is compared with, instruction for instruction.
#[library_benchmark]
#[bench::size_256(args = (256), setup = dalek_input)]
fn sig_verify_batch_dalek((messages, signatures, keys): DalekInput) -> DalekInput {
    let refs: Vec<&[u8]> = messages.iter().map(|m| m.as_slice()).collect();
    ed25519_dalek::verify_batch(black_box(&refs), black_box(&signatures), black_box(&keys))
        .expect("honest signatures");
    (messages, signatures, keys)
}

/// A UTXO set of `keys` outputs of 100 owned by key 0, and transactions each spending
/// two of them into two outputs of 100, signed by key 0.
fn tx_input(keys: u64, txs: usize) -> (UtxoSet, Vec<Transaction>) {
    let key = signing_key(0);
    let owner = owner(0);
    let (set, mut live) = utxo_set(keys, owner);
    let output = TxOut {
        owner,
        amount: Amount(100),
    };
    let spends = (0..txs)
        .map(|_| {
            let inputs: Vec<OutPoint> = live.drain(..2).collect();
            Transaction::signed(inputs, vec![output, output], &[&key])
        })
        .collect();
    (set, spends)
}

// `tx::validate_apply`: what a shard does per transaction after its signature passed:
// the id, the structural checks, and `UtxoSet::apply` (input lookups, spend, create) on
// a set of 100,000 outputs; for 64 transactions.
#[library_benchmark]
#[bench::txs_64_keys_100k(args = (100_000, 64), setup = tx_input)]
fn tx_validate_apply((mut set, txs): (UtxoSet, Vec<Transaction>)) -> (UtxoSet, Vec<Transaction>) {
    for tx in black_box(&txs) {
        let id = tx.id();
        tx.check_structure().expect("well-formed");
        set.apply(tx, id).expect("inputs unspent");
    }
    (set, txs)
}

fn merkle_input(leaves: u64) -> (Vec<Hash>, Vec<Hash>) {
    let leaves = merkle_leaves(leaves);
    let scratch = Vec::with_capacity(leaves.len());
    (leaves, scratch)
}

// `merkle::root`: the root of a block's transaction ids, scratch space allocated.
#[library_benchmark]
#[bench::leaves_4096(args = (4096), setup = merkle_input)]
fn merkle_root((leaves, mut scratch): (Vec<Hash>, Vec<Hash>)) -> (Vec<Hash>, Vec<Hash>) {
    let root = merkle::root_of(black_box(&leaves).iter().copied(), &mut scratch);
    black_box(root);
    (leaves, scratch)
}

type ChannelInput = (Sender<Vec<u32>>, Receiver<Vec<u32>>, Vec<u32>);

fn channel_input(len: u32) -> ChannelInput {
    let (sender, receiver) = bounded(16);
    (sender, receiver, (0..len).collect())
}

// `channel::batch_hop`: one batch of transaction indices through a bounded crossbeam
// channel (send, then receive, on one thread: the channel's own cost, no wake-up).
#[library_benchmark]
#[bench::batch_1024(args = (1024), setup = channel_input)]
fn channel_batch_hop((sender, receiver, batch): ChannelInput) -> ChannelInput {
    sender.send(black_box(batch)).expect("receiver alive");
    let batch = receiver.recv().expect("sender alive");
    (sender, receiver, black_box(batch))
}

fn cosi_input(signers: usize) -> (CosiFixture, CoSignature) {
    let fixture = cosi_fixture(signers);
    let cosig = sign_round(
        &fixture.roster,
        &fixture.keys,
        &fixture.signers,
        &fixture.message,
        &[7; 32],
    );
    (fixture, cosig)
}

// `cosi::verify`: checking a block's collective signature by the whole roster.
#[library_benchmark]
#[bench::signers_72(args = (72), setup = cosi_input)]
fn cosi_verify((fixture, cosig): (CosiFixture, CoSignature)) -> (CosiFixture, CoSignature) {
    black_box(&cosig)
        .verify(&fixture.roster, black_box(&fixture.message))
        .expect("valid certificate");
    (fixture, cosig)
}

library_benchmark_group!(
    name = hot_paths,
    benchmarks = [
        sig_verify_batch,
        sig_verify_batch_dalek,
        tx_validate_apply,
        merkle_root,
        channel_batch_hop,
        cosi_verify
    ]
);

main!(library_benchmark_groups = hot_paths);
