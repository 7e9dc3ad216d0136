//! Interleaved A/B of batched signature verification: ed25519-dalek's `verify_batch`
//! called directly versus through `ioschain_core::crypto::sig::BatchVerifier` (which
//! copies entries into its buffers and bisects on failure). Interleaving rounds cancels
//! most of a shared machine's drift (BENCHMARKING.md rule 7); the wrapper should lose at
//! most 5%.
//!
//! Run: `cargo run --release -p ioschain-benches --bin sig-overhead`

use std::hint::black_box;
use std::time::Instant;

use ed25519_dalek::{Signer, SigningKey};
use ioschain_core::crypto::sig::BatchVerifier;

const BATCH: usize = 1024;
const ITERATIONS: u32 = 40;
const ROUNDS: usize = 5;

fn main() {
    let keys: Vec<SigningKey> = (0..BATCH as u64)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&i.to_le_bytes());
            SigningKey::from_bytes(&seed)
        })
        .collect();
    let messages: Vec<[u8; 32]> = (0..BATCH as u64)
        .map(|i| {
            let mut m = [0u8; 32];
            m[..8].copy_from_slice(&(i * 7).to_le_bytes());
            m
        })
        .collect();
    let signatures: Vec<ed25519_dalek::Signature> =
        keys.iter().zip(&messages).map(|(k, m)| k.sign(m)).collect();
    let signature_bytes: Vec<[u8; 64]> = signatures.iter().map(|s| s.to_bytes()).collect();
    let verifying: Vec<ed25519_dalek::VerifyingKey> =
        keys.iter().map(SigningKey::verifying_key).collect();
    let refs: Vec<&[u8]> = messages.iter().map(|m| m.as_slice()).collect();
    let mut verifier = BatchVerifier::with_capacity(BATCH);
    let mut bad = Vec::new();
    let mut losses = Vec::new();
    println!("batch {BATCH}, {ITERATIONS} batches per side per round, {ROUNDS} rounds");
    for round in 0..ROUNDS {
        let start = Instant::now();
        for _ in 0..ITERATIONS {
            ed25519_dalek::verify_batch(
                black_box(&refs),
                black_box(&signatures),
                black_box(&verifying),
            )
            .expect("honest signatures");
        }
        let raw = start.elapsed().as_secs_f64() / f64::from(ITERATIONS);
        let start = Instant::now();
        for _ in 0..ITERATIONS {
            for (i, ((message, signature), key)) in messages
                .iter()
                .zip(&signature_bytes)
                .zip(&verifying)
                .enumerate()
            {
                verifier.push(*message, signature, *key, i as u32);
            }
            verifier.verify(&mut bad);
            assert!(bad.is_empty());
        }
        let ours = start.elapsed().as_secs_f64() / f64::from(ITERATIONS);
        let loss = (ours / raw - 1.0) * 100.0;
        losses.push(loss);
        println!(
            "round {round}: raw {:.0} sig/s, BatchVerifier {:.0} sig/s, wrapper costs {loss:+.1}%",
            BATCH as f64 / raw,
            BATCH as f64 / ours
        );
    }
    losses.sort_by(f64::total_cmp);
    println!("median wrapper cost: {:+.1}%", losses[ROUNDS / 2]);
}
