//! Raw ceilings of this machine, measured in-process (BENCHMARKING.md rule 7).
//!
//! - **Verification ceiling:** how many ed25519 signatures per second batched
//!   verification (the engine's own ZIP-215 `BatchVerifier`, batch [`LIMIT_BATCH`], keys
//!   decoded once as the key cache does) reaches on one core and on the cores a run uses.
//!   A run's `efficiency` is its final throughput in signatures over the ceiling of the
//!   same cores.
//! - **Model ceiling** (`limits.model_tx_per_s`): the least work any correct validating
//!   ledger does per default transaction, in transactions per second summed over the
//!   cores used (one pinned thread per core, each with a ledger of its own, measured
//!   together). Per transaction: its id, hashed from a real signed transaction of the
//!   workload's shape (`Transaction::id`, 2 inputs and 2 outputs by default); its one
//!   signature, verified over that id in a ZIP-215 batch of [`LIMIT_BATCH`] with keys
//!   decoded once; and one spend and one create (`UtxoSet::apply` of a one-input,
//!   one-output transaction) in a `UtxoSet` holding [`Model::utxos`] live outputs. A
//!   run's map is the size of its largest shard's genesis (the map one shard's ledger
//!   holds, with the run's `engine.spent_retention`); `ioschain limits` uses
//!   [`LIMITS_MODEL_UTXOS`] (one million). Nothing else a real shard does is in it
//!   (no decode, no second spend and create of the default transaction's other input
//!   and output, no blocks, CoSi, sampling, store or channels), so it is a ceiling no
//!   engine can reach: a run's `efficiency_model` is `tps.final` over it. The map is
//!   filled before the clock starts; a run's whole ceiling measurement (verification
//!   on one core and on all, then the model) takes about 1.5 s plus the fill.
//! - `ioschain limits` alone also measures short blake3 hashes, one channel hop and the
//!   block log's write and flush rates.

use std::collections::VecDeque;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use ed25519_dalek::{Signer, SigningKey};
use ioschain_core::crypto::hash::Domain;
use ioschain_core::crypto::sig::{BatchVerifier, VerificationKey};
use ioschain_core::tx::{Transaction, TxOut, Witness};
use ioschain_core::types::{Amount, Hash, OutPoint, Owner, TxId};
use ioschain_core::utxo::UtxoSet;
pub use ioschain_reports::summary::Limits;

use crate::config::{Config, SPENT_RETENTION_MIN, WorkloadSection};

/// Signatures per batch when measuring the ceiling (the engine's default batch).
pub const LIMIT_BATCH: usize = 1024;

/// Live outputs in each core's UTXO map when `ioschain limits` measures the model
/// ceiling (a run uses its largest shard's genesis instead).
pub const LIMITS_MODEL_UTXOS: usize = 1_000_000;

/// What the model ceiling's ledger looks like: the shape of the transaction whose id it
/// hashes and the size of its UTXO map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Model {
    /// Live outputs in each core's map (filled before the clock starts; every spend
    /// creates one, so the map keeps this many).
    pub utxos: usize,
    /// Inputs of the transaction whose id is hashed and signature verified.
    pub inputs: usize,
    /// Its outputs.
    pub outputs: usize,
    /// Spent entries the map keeps (the engine's `spent_retention`).
    pub spent_retention: usize,
}

impl Model {
    /// `ioschain limits`: the default workload's transaction shape and retention, and
    /// [`LIMITS_MODEL_UTXOS`] live outputs.
    pub fn limits_default() -> Model {
        let workload = WorkloadSection::default();
        Model {
            utxos: LIMITS_MODEL_UTXOS,
            inputs: workload.inputs_per_tx as usize,
            outputs: workload.outputs_per_tx as usize,
            spent_retention: SPENT_RETENTION_MIN as usize,
        }
    }

    /// A run's: its transaction shape and retention, and as many live outputs as its
    /// largest shard holds at genesis (`largest_genesis`).
    pub fn of_run(config: &Config, largest_genesis: usize) -> Model {
        Model {
            utxos: largest_genesis,
            inputs: config.workload.inputs_per_tx as usize,
            outputs: config.workload.outputs_per_tx as usize,
            spent_retention: config.spent_retention() as usize,
        }
    }
}

/// Runs `work(t)` on each of `threads` threads, thread `t` pinned to core `t` (when the
/// machine says which cores there are); `work` calls [`Barrier::wait`] on the barrier it
/// is given when its set-up is done, so the measured parts run at once.
fn on_cores<R: Send>(threads: usize, work: impl Fn(usize, &Barrier) -> R + Sync) -> Vec<R> {
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let barrier = Barrier::new(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let core = cores.get(t).copied();
                let (barrier, work) = (&barrier, &work);
                scope.spawn(move || {
                    if let Some(core) = core {
                        core_affinity::set_for_current(core);
                    }
                    work(t, barrier)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("no panic"))
            .collect()
    })
}

fn signing_key(seed: u64, i: u64) -> SigningKey {
    let mut key_seed = [0u8; 32];
    key_seed[..8].copy_from_slice(&(seed * 1_000_003 + i).to_le_bytes());
    SigningKey::from_bytes(&key_seed)
}

fn signed_batch(seed: u64) -> Vec<([u8; 32], [u8; 64], VerificationKey)> {
    (0..LIMIT_BATCH as u64)
        .map(|i| {
            let key = signing_key(seed, i);
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
    on_cores(threads, |t, barrier| {
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
    .iter()
    .sum()
}

/// What the model measurement did on one core, counted (the structural witness that each
/// transaction cost one id, one verified signature, one spend and one create).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ModelCore {
    /// Model transactions completed (id, signature, spend and create).
    pub transactions: u64,
    /// Transaction ids hashed.
    pub ids: u64,
    /// Signatures verified, counted by the verifier (batch equations × batch size, plus
    /// single verifications).
    pub signatures: u64,
    /// Batch equations the verifier evaluated.
    pub batches: u64,
    /// Live (unspent) outputs in the map at the end.
    pub live_outputs: usize,
    /// Spent entries in the map at the end.
    pub spent_entries: usize,
    /// Unspent value at the end (every output holds 100, so `100 × live_outputs` when
    /// every spend created exactly one output).
    pub unspent_value: u128,
    /// Seconds measured.
    pub seconds: f64,
}

impl ModelCore {
    /// Transactions per second on this core.
    pub fn tx_per_s(&self) -> f64 {
        self.transactions as f64 / self.seconds
    }
}

/// A pseudo-random 32-byte id for the `i`-th output filled into a map (splitmix64).
fn fill_id(seed: u64, i: u64) -> TxId {
    let mut bytes = [0u8; 32];
    let mut x = seed
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(i.wrapping_mul(0xbf58_476d_1ce4_e5b9));
    for chunk in bytes.chunks_exact_mut(8) {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    TxId(Hash(bytes))
}

/// The model on one core (thread `t`): set-up, then `barrier`, then `duration` of
/// model transactions in batches of [`LIMIT_BATCH`].
fn model_core(t: usize, model: &Model, duration: Duration, barrier: &Barrier) -> ModelCore {
    const AMOUNT: Amount = Amount(100);
    let seed = t as u64 + 1_000;
    // Real transactions of the workload's shape, each signed over its id by its own
    // account; their keys decoded once, as the key cache holds them.
    let keys: Vec<SigningKey> = (0..LIMIT_BATCH as u64)
        .map(|i| signing_key(seed, i))
        .collect();
    let txs: Vec<Transaction> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let owner = Owner(key.verifying_key().to_bytes());
            let inputs = (0..model.inputs.max(1) as u32)
                .map(|index| OutPoint {
                    tx: fill_id(!seed, i as u64),
                    index,
                })
                .collect();
            let outputs = vec![
                TxOut {
                    owner,
                    amount: AMOUNT,
                };
                model.outputs.max(1)
            ];
            Transaction::signed(inputs, outputs, &[key])
        })
        .collect();
    let verification_keys: Vec<VerificationKey> = keys
        .iter()
        .map(|k| VerificationKey::from(&k.verifying_key()))
        .collect();
    // The map: `utxos` live outputs of one owner, spent oldest first; each spend creates
    // one output, so the map keeps its size. `apply` does not check signatures (they are
    // verified in batches before), so the spend's witness carries no real signature.
    let owner = Owner(keys[0].verifying_key().to_bytes());
    let utxos = model.utxos.max(1);
    let mut set = UtxoSet::with_spent_retention(utxos, model.spent_retention);
    let mut live: VecDeque<OutPoint> = VecDeque::with_capacity(utxos);
    for i in 0..utxos as u64 {
        let outpoint = OutPoint {
            tx: fill_id(seed, i),
            index: 0,
        };
        set.create(
            outpoint,
            TxOut {
                owner,
                amount: AMOUNT,
            },
        )
        .expect("distinct outpoints");
        live.push_back(outpoint);
    }
    let mut spend = Transaction {
        inputs: vec![live[0]],
        outputs: vec![TxOut {
            owner,
            amount: AMOUNT,
        }],
        witnesses: vec![Witness {
            owner,
            signature: [0; 64],
        }],
    };
    let mut verifier = BatchVerifier::with_capacity(LIMIT_BATCH, [t as u8; 32]);
    let mut bad = Vec::new();
    let mut ids = vec![TxId(Hash::ZERO); LIMIT_BATCH];
    let mut counts = ModelCore::default();
    let mut created = 0u64;
    barrier.wait();
    let start = Instant::now();
    while start.elapsed() < duration {
        for (i, ((tx, key), id)) in txs
            .iter()
            .zip(&verification_keys)
            .zip(ids.iter_mut())
            .enumerate()
        {
            *id = tx.id();
            verifier.push(id.0.0, &tx.witnesses[0].signature, *key, i as u32);
        }
        counts.ids += LIMIT_BATCH as u64;
        verifier.verify(&mut bad);
        assert!(bad.is_empty(), "honest signatures over the ids verify");
        for id in &ids {
            spend.inputs[0] = live.pop_front().expect("the map is never empty");
            // The output's id: the transaction's, made unique (the same 1024
            // transactions are hashed every batch) by a counter in its last 8 bytes.
            let mut output_id = *id;
            output_id.0.0[24..].copy_from_slice(&created.to_le_bytes());
            created += 1;
            set.apply(&spend, output_id)
                .expect("an unspent output of the witness's owner");
            live.push_back(OutPoint {
                tx: output_id,
                index: 0,
            });
        }
        counts.transactions += LIMIT_BATCH as u64;
    }
    counts.seconds = start.elapsed().as_secs_f64();
    counts.batches = verifier.batches_verified();
    counts.signatures =
        verifier.batches_verified() * LIMIT_BATCH as u64 + verifier.singles_verified();
    counts.spent_entries = set.spent_entries();
    counts.live_outputs = set.len() - set.spent_entries();
    counts.unspent_value = set.unspent_value();
    counts
}

/// Runs the model (see the module doc) for `duration` on each of `threads` threads
/// (pinned to the first cores) at once, after each filled its map; returns what each
/// did. [`measure_model`] sums their rates.
pub fn measure_model_cores(threads: usize, duration: Duration, model: &Model) -> Vec<ModelCore> {
    on_cores(threads, |t, barrier| {
        model_core(t, model, duration, barrier)
    })
}

/// The model ceiling: model transactions per second summed over `threads` pinned threads.
pub fn measure_model(threads: usize, duration: Duration, model: &Model) -> f64 {
    measure_model_cores(threads, duration, model)
        .iter()
        .map(ModelCore::tx_per_s)
        .sum()
}

/// The verification ceilings for one core and for `cores` cores, then the model ceiling
/// on `cores` cores (about `3 × duration`, plus filling the model's maps).
pub fn measure(cores: usize, duration: Duration, model: &Model) -> Limits {
    let one = measure_verify(1, duration);
    let all = if cores > 1 {
        measure_verify(cores, duration)
    } else {
        one
    };
    let model_tx_per_s = measure_model(cores, duration, model);
    Limits {
        verify_sigs_per_s_per_core: one,
        verify_sigs_per_s_cores: all,
        cores,
        batch: LIMIT_BATCH,
        blake3_150b_per_s: None,
        channel_round_trip_us: None,
        model_tx_per_s: Some(model_tx_per_s),
        model_utxos: Some(model.utxos.max(1) as u64),
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

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: Model = Model {
        utxos: 5_000,
        inputs: 2,
        outputs: 2,
        spent_retention: 1_000,
    };

    /// Structural, not timed: each model transaction hashed one id, had one signature
    /// verified in a clean batch of `LIMIT_BATCH`, and spent one output and created one,
    /// so the map kept its size and its value.
    #[test]
    fn each_model_transaction_is_one_id_one_verification_one_spend_and_one_create() {
        let cores = measure_model_cores(1, Duration::from_millis(20), &SMALL);
        assert_eq!(cores.len(), 1);
        let c = cores[0];
        assert!(c.transactions >= LIMIT_BATCH as u64, "{c:?}");
        assert_eq!(c.ids, c.transactions, "{c:?}");
        assert_eq!(c.signatures, c.transactions, "{c:?}");
        assert_eq!(
            c.batches * LIMIT_BATCH as u64,
            c.transactions,
            "one clean batch equation per {LIMIT_BATCH} transactions: {c:?}"
        );
        assert_eq!(c.live_outputs, SMALL.utxos, "{c:?}");
        assert_eq!(c.unspent_value, 100 * SMALL.utxos as u128, "{c:?}");
        assert_eq!(
            c.spent_entries,
            (c.transactions as usize).min(SMALL.spent_retention),
            "{c:?}"
        );
        assert!(c.tx_per_s().is_finite() && c.tx_per_s() > 0.0, "{c:?}");
    }

    /// `measure` fills the model fields. That the model ceiling stays below the
    /// verification ceiling (each model transaction verifies one signature, in the same
    /// batches, and does more besides) is the structural test above, not a comparison
    /// of two timings, which a shared machine's noise could invert.
    #[test]
    fn measure_reports_a_positive_model_ceiling_with_its_map_size() {
        let l = measure(1, Duration::from_millis(20), &SMALL);
        let model = l.model_tx_per_s.expect("measured");
        assert!(model.is_finite() && model > 0.0, "{l:?}");
        assert_eq!(l.model_utxos, Some(SMALL.utxos as u64));
        assert!(l.verify_sigs_per_s_cores > 0.0, "{l:?}");
    }

    #[test]
    fn the_limits_model_is_the_default_transaction_in_a_million_outputs() {
        let m = Model::limits_default();
        assert_eq!((m.inputs, m.outputs), (2, 2));
        assert_eq!(m.utxos, LIMITS_MODEL_UTXOS);
        assert_eq!(m.spent_retention, 65_536);
    }
}
