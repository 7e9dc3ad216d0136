//! Criterion benches of `ioschain-core`'s hot paths, named `module::op/param=value`.
//!
//! Run: `cargo bench -p ioschain-benches --bench core` (add a filter such as `sig::` to
//! run a subset). Throughput is reported per element (signature, transaction, leaf).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ioschain_benches::{
    CosiFixture, cosi_fixture, merkle_leaves, model_tx, owner, signed_entries, spend, utxo_set,
};
use ioschain_core::codec::{Decode, Encode};
use ioschain_core::crypto::cosi::sign_round;
use ioschain_core::crypto::hash::Domain;
use ioschain_core::crypto::sig::BatchVerifier;
use ioschain_core::merkle;
use ioschain_core::tx::{Transaction, Witness};
use ioschain_core::types::{Hash, OutPoint};

fn sig_verify_batch(c: &mut Criterion) {
    let mut group = c.benchmark_group("sig::verify_batch");
    for size in [64usize, 256, 1024] {
        let entries = signed_entries(size);
        let mut verifier = BatchVerifier::with_capacity(size, [3; 32]);
        let mut bad = Vec::new();
        group.throughput(Throughput::Elements(size as u64));
        group.bench_function(format!("size={size}"), |b| {
            b.iter(|| {
                for (i, (message, signature, key)) in entries.iter().enumerate() {
                    verifier.push(*message, signature, *key, i as u32);
                }
                verifier.verify(&mut bad);
                assert!(bad.is_empty());
            })
        });
    }
    group.finish();
    // The same batches through ed25519-dalek's own `verify_batch` (cofactorless, with
    // batch-dependent verdicts on crafted signatures, so never used to verify): the
    // reference the ZIP-215 verifier must stay within 3% of.
    let mut group = c.benchmark_group("sig::verify_batch_raw");
    for size in [64usize, 256, 1024] {
        let entries = signed_entries(size);
        let messages: Vec<[u8; 32]> = entries.iter().map(|e| e.0).collect();
        let signatures: Vec<ed25519_dalek::Signature> = entries
            .iter()
            .map(|e| ed25519_dalek::Signature::from_bytes(&e.1))
            .collect();
        let verifying: Vec<ed25519_dalek::VerifyingKey> = entries
            .iter()
            .map(|e| ed25519_dalek::VerifyingKey::from_bytes(e.2.as_bytes()).unwrap())
            .collect();
        let refs: Vec<&[u8]> = messages.iter().map(|m| m.as_slice()).collect();
        group.throughput(Throughput::Elements(size as u64));
        group.bench_function(format!("size={size}"), |b| {
            b.iter(|| ed25519_dalek::verify_batch(&refs, &signatures, &verifying).unwrap())
        });
    }
    group.finish();
}

fn tx_decode_and_id(c: &mut Criterion) {
    let tx = model_tx(1);
    let bytes = tx.to_bytes();
    // The model transaction: 2 inputs, 2 outputs, 1 witness (254 bytes encoded).
    let mut group = c.benchmark_group("tx::decode");
    group.throughput(Throughput::Elements(1));
    group.bench_function("shape=2in2out", |b| {
        b.iter(|| Transaction::from_bytes(black_box(&bytes)).unwrap())
    });
    group.finish();
    let mut group = c.benchmark_group("tx::id");
    group.throughput(Throughput::Elements(1));
    group.bench_function("shape=2in2out", |b| b.iter(|| black_box(&tx).id()));
    group.finish();
}

/// Applies two-input, two-output transactions to a set of one million live outputs.
/// Signatures are not part of `apply` (they are verified in batches before), so the
/// witnesses here carry the right owner and a dummy signature.
fn utxo_apply(c: &mut Criterion) {
    const KEYS: u64 = 1_000_000;
    let owner = owner(0);
    let (mut set, mut live) = utxo_set(KEYS, owner);
    let witness = Witness {
        owner,
        signature: [0; 64],
    };
    let mut group = c.benchmark_group("utxo::apply");
    group.throughput(Throughput::Elements(1));
    group.bench_function("keys=1M", |b| {
        b.iter_custom(|iters| {
            let mut txs = Vec::with_capacity(iters as usize);
            for _ in 0..iters {
                let inputs = vec![live.pop_front().unwrap(), live.pop_front().unwrap()];
                let tx = spend(inputs, witness);
                let id = tx.id();
                live.push_back(OutPoint { tx: id, index: 0 });
                live.push_back(OutPoint { tx: id, index: 1 });
                txs.push((tx, id));
            }
            let start = Instant::now();
            for (tx, id) in &txs {
                set.apply(tx, *id).unwrap();
            }
            let elapsed = start.elapsed();
            // Keep the set at about one million entries: drop spent ones off the clock.
            if set.spent_entries() > 200_000 {
                set.prune_spent();
            }
            elapsed
        })
    });
    group.finish();
}

fn merkle_root(c: &mut Criterion) {
    let leaves: Vec<Hash> = merkle_leaves(4096);
    let mut scratch = Vec::with_capacity(leaves.len());
    let mut group = c.benchmark_group("merkle::root");
    group.throughput(Throughput::Elements(leaves.len() as u64));
    group.bench_function("leaves=4096", |b| {
        b.iter(|| merkle::root_with(black_box(&leaves), &mut scratch))
    });
    group.finish();
}

fn cosi(c: &mut Criterion) {
    let CosiFixture {
        roster,
        keys,
        signers,
        message,
    } = cosi_fixture(72);
    let mut round = 0u64;
    let mut group = c.benchmark_group("cosi::sign_round");
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("signers=72", |b| {
        b.iter_batched(
            || {
                round += 1;
                *Domain::Prg.hash(&round.to_le_bytes()).as_bytes()
            },
            |fresh| sign_round(&roster, &keys, &signers, &message, &fresh),
            BatchSize::SmallInput,
        )
    });
    group.finish();
    let cosig = sign_round(&roster, &keys, &signers, &message, &[7; 32]);
    let mut group = c.benchmark_group("cosi::verify");
    group.bench_function("signers=72", |b| {
        b.iter(|| cosig.verify(&roster, black_box(&message)).unwrap())
    });
    group.finish();
}

criterion_group!(
    benches,
    sig_verify_batch,
    tx_decode_and_id,
    utxo_apply,
    merkle_root,
    cosi
);
criterion_main!(benches);
