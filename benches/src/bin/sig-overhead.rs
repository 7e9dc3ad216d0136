//! Interleaved A/B of batched signature verification: ed25519-dalek's own `verify_batch`
//! (the reference: cofactorless, with batch-dependent verdicts on crafted signatures, so
//! ioschain never verifies with it) versus `ioschain_core::crypto::sig::BatchVerifier`
//! (ZIP-215, cofactored, with the key cache's decoded keys), on the same honest batches.
//! Alternating batch by batch cancels most of a shared machine's drift (BENCHMARKING.md
//! rule 7);
//! the ZIP-215 verifier should lose at most 3%.
//!
//! Run: `cargo run --release -p ioschain-benches --bin sig-overhead [ROUNDS] [BATCH]`
//! (defaults 9 and 1024).

use std::hint::black_box;
use std::time::Instant;

use ed25519_dalek::{Signer, SigningKey};
use ioschain_core::crypto::sig::{BatchVerifier, VerificationKey};

const ITERATIONS: u32 = 40;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut number = |default: usize| match args.next().map(|a| a.parse::<usize>()) {
        None => default,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: sig-overhead [ROUNDS] [BATCH]  (whole numbers above 0)");
            std::process::exit(2);
        }
    };
    let rounds = number(9);
    let batch = number(1024);
    let keys: Vec<SigningKey> = (0..batch as u64)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&i.to_le_bytes());
            SigningKey::from_bytes(&seed)
        })
        .collect();
    let messages: Vec<[u8; 32]> = (0..batch as u64)
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
    let decoded: Vec<VerificationKey> = verifying.iter().map(VerificationKey::from).collect();
    let refs: Vec<&[u8]> = messages.iter().map(|m| m.as_slice()).collect();
    let mut verifier = BatchVerifier::with_capacity(batch, [9; 32]);
    let mut bad = Vec::new();
    let mut ratios = Vec::new();
    println!(
        "batch {batch}, {ITERATIONS} batches per side per round, alternating, {rounds} rounds"
    );
    let run_dalek = || {
        let start = Instant::now();
        ed25519_dalek::verify_batch(
            black_box(&refs),
            black_box(&signatures),
            black_box(&verifying),
        )
        .expect("honest signatures");
        start.elapsed().as_secs_f64()
    };
    let mut run_zip215 = || {
        let start = Instant::now();
        for (i, ((message, signature), key)) in messages
            .iter()
            .zip(&signature_bytes)
            .zip(&decoded)
            .enumerate()
        {
            verifier.push(*message, signature, *key, i as u32);
        }
        verifier.verify(&mut bad);
        assert!(bad.is_empty());
        start.elapsed().as_secs_f64()
    };
    for round in 0..rounds {
        // Alternate batch by batch (and which side goes first), so both sides see the
        // same drift of a shared machine.
        let (mut dalek, mut zip215) = (0.0, 0.0);
        for i in 0..ITERATIONS {
            if i % 2 == 0 {
                dalek += run_dalek();
                zip215 += run_zip215();
            } else {
                zip215 += run_zip215();
                dalek += run_dalek();
            }
        }
        let (dalek, zip215) = (
            dalek / f64::from(ITERATIONS),
            zip215 / f64::from(ITERATIONS),
        );
        let ratio = dalek / zip215;
        ratios.push(ratio);
        println!(
            "round {round}: dalek verify_batch {:.0} sig/s, ZIP-215 BatchVerifier {:.0} sig/s, ratio {ratio:.3}",
            batch as f64 / dalek,
            batch as f64 / zip215
        );
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "median ratio (ZIP-215 rate / dalek rate): {:.3} (min {:.3}, max {:.3})",
        ratios[rounds / 2],
        ratios[0],
        ratios[rounds - 1]
    );
}
