//! Raw ceilings of this machine, measured in-process (BENCHMARKING.md rule 7): how many
//! ed25519 signatures per second batched verification (the engine's own ZIP-215
//! `BatchVerifier`, keys decoded once as the key cache does) reaches on one core and on
//! the cores a run uses, how many short blake3 hashes per second, and what one channel
//! hop costs. A run's `efficiency` is its final throughput (in signatures) over the ceiling
//! of the same cores.

use std::sync::Barrier;
use std::time::{Duration, Instant};

use ed25519_dalek::{Signer, SigningKey};
use ioschain_core::crypto::hash::Domain;
use ioschain_core::crypto::sig::{BatchVerifier, VerificationKey};
pub use ioschain_reports::summary::Limits;

/// Signatures per batch when measuring the ceiling (the engine's default batch).
pub const LIMIT_BATCH: usize = 1024;

fn signed_batch(seed: u64) -> Vec<([u8; 32], [u8; 64], VerificationKey)> {
    (0..LIMIT_BATCH as u64)
        .map(|i| {
            let mut key_seed = [0u8; 32];
            key_seed[..8].copy_from_slice(&(seed * 1_000_003 + i).to_le_bytes());
            let key = SigningKey::from_bytes(&key_seed);
            let message = *Domain::Prg.hash(&i.to_le_bytes()).as_bytes();
            (
                message,
                key.sign(&message).to_bytes(),
                VerificationKey::from(&key.verifying_key()),
            )
        })
        .collect()
}

/// Verifies batches for `duration` on each of `threads` threads (pinned to the first
/// cores) at once; returns signatures per second summed over the threads.
pub fn measure_verify(threads: usize, duration: Duration) -> f64 {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let barrier = Barrier::new(threads);
    let rates: Vec<f64> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let core = cores.get(t).copied();
                let barrier = &barrier;
                scope.spawn(move || {
                    if let Some(core) = core {
                        core_affinity::set_for_current(core);
                    }
                    let batch = signed_batch(t as u64);
                    let mut verifier = BatchVerifier::with_capacity(LIMIT_BATCH, [t as u8; 32]);
                    let mut bad = Vec::new();
                    barrier.wait();
                    let start = Instant::now();
                    let mut sigs = 0u64;
                    while start.elapsed() < duration {
                        for (i, (m, s, k)) in batch.iter().enumerate() {
                            verifier.push(*m, s, *k, i as u32);
                        }
                        verifier.verify(&mut bad);
                        assert!(bad.is_empty(), "honest signatures verify");
                        sigs += LIMIT_BATCH as u64;
                    }
                    sigs as f64 / start.elapsed().as_secs_f64()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .collect()
    });
    rates.iter().sum()
}

/// The verification ceilings for one core and for `cores` cores (about `2 × duration`).
pub fn measure(cores: usize, duration: Duration) -> Limits {
    let one = measure_verify(1, duration);
    let all = if cores > 1 {
        measure_verify(cores, duration)
    } else {
        one
    };
    Limits {
        verify_sigs_per_s_per_core: one,
        verify_sigs_per_s_cores: all,
        cores,
        batch: LIMIT_BATCH,
        blake3_150b_per_s: None,
        channel_round_trip_us: None,
    }
}

/// blake3 hashes of 150 bytes per second on one thread.
pub fn measure_blake3(duration: Duration) -> f64 {
    let mut data = [7u8; 150];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < duration {
        for _ in 0..1000 {
            let h = Domain::TxId.hash(&data);
            data[0] = h.0[0];
        }
        n += 1000;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Mean round trip of one message between two threads over bounded channels, µs.
pub fn measure_channel_round_trip(round_trips: u32) -> f64 {
    let (to_tx, to_rx) = crossbeam::channel::bounded::<u64>(1);
    let (back_tx, back_rx) = crossbeam::channel::bounded::<u64>(1);
    let echo = std::thread::spawn(move || {
        while let Ok(v) = to_rx.recv() {
            if back_tx.send(v).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    for i in 0..u64::from(round_trips) {
        to_tx.send(i).expect("echo alive");
        back_rx.recv().expect("echo alive");
    }
    let us = start.elapsed().as_secs_f64() * 1e6 / f64::from(round_trips);
    drop(to_tx);
    echo.join().expect("no panic");
    us
}

/// Appends `records` records of `record_bytes` each through the store thread with
/// `backend` and `fsync`, up to `group` per flush, into a scratch directory under `dir`;
/// returns (records per second, MB per second, flushes).
pub fn measure_store(
    dir: &std::path::Path,
    backend: crate::config::Backend,
    fsync: crate::config::Fsync,
    records: usize,
    record_bytes: usize,
    group: usize,
) -> std::io::Result<(f64, f64, u64)> {
    use crate::engine::store::{Append, open_logs, run_store};
    let scratch = dir.join(format!("store-{}-{}", backend.name(), fsync.name()));
    let files = open_logs(&scratch, 1)?;
    let (tx, rx) = crossbeam::channel::bounded(group * 2);
    let (ack_tx, ack_rx) = crossbeam::channel::unbounded();
    let start = Instant::now();
    let store =
        std::thread::spawn(move || run_store(files, backend, fsync, group, rx, vec![ack_tx]));
    let payload = vec![0x5au8; record_bytes];
    for height in 0..records as u64 {
        let bytes = payload.clone();
        tx.send(Append {
            shard: 0,
            height,
            bytes,
            worker: 0,
        })
        .map_err(|_| std::io::Error::other("store stopped"))?;
    }
    drop(tx);
    let report = store
        .join()
        .map_err(|_| std::io::Error::other("store panicked"))??;
    let seconds = start.elapsed().as_secs_f64();
    let acked: usize = ack_rx.try_iter().map(|a| a.buffers.len()).sum();
    assert_eq!(acked, records, "every record acknowledged");
    std::fs::remove_dir_all(&scratch)?;
    Ok((
        records as f64 / seconds,
        (records * record_bytes) as f64 / seconds / 1e6,
        report.flushes,
    ))
}
