//! The end-of-run validity checks (DESIGN.md §4, BENCHMARKING.md rule 5).
//!
//! The central check is an oracle that re-reads the block log from disk and replays it
//! with its own bookkeeping (a plain map from outpoint to owner and amount), without
//! `UtxoSet` or the engine's counters; its results are then compared with the engine's.
//! A run is valid only if every check passes: blocks certified by their roster and
//! linked, no output spent twice or out of nowhere, value conserved, the engine's final
//! state equal to the replayed one, every submitted transaction accounted for and with
//! the outcome the workload expected, and a sample of signatures re-verified one by one.

use std::collections::HashMap;
use std::path::Path;

use ed25519_dalek::{Signature, VerifyingKey};
use ioschain_core::crypto::cosi::Roster;
use ioschain_core::merkle;
use ioschain_core::types::{Hash, OutPoint, Owner};
use ioschain_core::utxo::UtxoState;
use ioschain_workloads::{Expected, Workload};
use rayon::prelude::*;
use serde::Serialize;

use crate::blocklog::{read_log, shard_path};
use crate::engine::shard::Shard;
use crate::engine::{EngineOutcome, roster_keys};

/// One check's result.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// Stable name.
    pub name: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// What was found.
    pub detail: String,
}

fn check(name: &'static str, ok: bool, detail: String) -> Check {
    Check { name, ok, detail }
}

/// Every `SIGNATURE_SAMPLE_EVERY`-th transaction in the log has its signatures
/// re-verified one by one.
pub const SIGNATURE_SAMPLE_EVERY: usize = 64;

/// What the oracle found in one shard's log.
#[derive(Debug, Default)]
struct Replay {
    blocks: u64,
    txs: u64,
    problems: Vec<String>,
    /// Logged transactions that are not a valid released transaction of the stream
    /// (byte for byte, witnesses included) or are logged twice.
    out_of_stream: u64,
    /// Transactions in the OptBlocks the log finalizes.
    referenced: u64,
    /// Transactions the log excludes.
    excluded: u64,
    /// Transactions the normal league ordered itself.
    direct: u64,
    /// Proofs in the log.
    proofs: u64,
    /// Proofs whose failed check the replay could not confirm.
    proofs_unconfirmed: u64,
    /// Roster indices the log's proofs blame.
    blamed: Vec<u32>,
    /// Valid released transactions never logged.
    missing_valid: u64,
    double_spends: u64,
    unknown_inputs: u64,
    unspent: HashMap<OutPoint, (Owner, u64)>,
    fees: u128,
    signatures_checked: u64,
    signature_failures: u64,
}

fn replay_shard(
    dir: &Path,
    workload: &Workload,
    shard: &Shard,
    released: usize,
    sample_offset: usize,
) -> Replay {
    let mut replay = Replay::default();
    for (outpoint, out) in &workload.shards[shard.id.0 as usize].genesis {
        replay.unspent.insert(*outpoint, (out.owner, out.amount.0));
    }
    let mut spent: HashMap<OutPoint, ()> = HashMap::new();
    // The roster is rebuilt from the seed, not taken from the engine.
    let keys = roster_keys(workload.spec.seed, shard.id.0, shard.roster.len());
    let members: Vec<_> = keys
        .iter()
        .map(|k| (k.public(), k.prove_possession()))
        .collect();
    let roster = match Roster::new(&members) {
        Ok(roster) => roster,
        Err(e) => {
            replay
                .problems
                .push(format!("shard {}: roster: {e}", shard.id));
            return replay;
        }
    };
    let roster = &roster;
    // The stream's valid released transactions, by their whole-transaction hash: the
    // log must hold exactly these, each once (OptBlocks of different believable
    // validators interleave, so the order is the league's, not the stream's).
    let part = &workload.shards[shard.id.0 as usize];
    let mut expected_valid: HashMap<Hash, ()> = part.txs[..released.min(part.txs.len())]
        .iter()
        .zip(&part.expected)
        .filter(|(_, e)| **e == Expected::Valid)
        .map(|(tx, _)| (tx.witnessed_hash(), ()))
        .collect();
    // OptBlock signing keys of the roster, derived from the seed.
    let opt_keys: HashMap<[u8; 32], u32> =
        crate::engine::pob::Validators::genesis(workload.spec.seed, shard.id, roster.len(), 1)
            .opt_public
            .into_iter()
            .zip(0..)
            .collect();
    let mut failed_checks = Vec::new();
    let mut prev = Hash::ZERO;
    let mut expected_height = 0u64;
    let mut tx_seen = 0usize;
    let path = shard_path(dir, shard.id.0);
    let result = read_log(&path, roster.len(), |record| {
        let header = record.header;
        if header.shard != shard.id || header.height.0 != expected_height || header.prev != prev {
            replay.problems.push(format!(
                "block {} of shard {}: expected height {expected_height} linked to {prev:?}, found height {} linked to {:?}",
                replay.blocks, shard.id, header.height, header.prev
            ));
        }
        if let Err(e) = record.certificate.verify(&header, roster) {
            replay.problems.push(format!(
                "block {} of shard {}: certificate: {e}",
                header.height, shard.id
            ));
        }
        if record.pob.root() != header.pob_root {
            replay.problems.push(format!(
                "block {} of shard {}: PoB body does not match the header's pob_root",
                header.height, shard.id
            ));
        }
        for signed in &record.pob.refs {
            replay.referenced += u64::from(signed.header.tx_count);
            if !opt_keys.contains_key(&signed.signer) || !signed.verify() {
                replay.problems.push(format!(
                    "block {} of shard {}: an OptBlock reference is not signed by a roster validator",
                    header.height, shard.id
                ));
            }
        }
        replay.excluded += record.pob.excluded.len() as u64;
        replay.direct += u64::from(record.pob.direct);
        for proof in &record.pob.proofs {
            replay.proofs += 1;
            match proof.culprit().ok().and_then(|key| opt_keys.get(&key)) {
                Some(&culprit) => replay.blamed.push(culprit),
                None => replay.problems.push(format!(
                    "block {} of shard {}: a {} proof does not verify against a roster validator",
                    header.height,
                    shard.id,
                    proof.kind()
                )),
            }
            if let ioschain_core::pob::final_body::Proof::FailedCheck(check) = proof {
                failed_checks.push((check.tx.clone(), check.reason));
            }
        }
        let ids: Vec<Hash> = record.txs.iter().map(|tx| tx.id().0).collect();
        if header.tx_count as usize != ids.len() || merkle::root(&ids) != header.tx_root {
            replay.problems.push(format!(
                "block {} of shard {}: body does not match header",
                header.height, shard.id
            ));
        }
        for (tx, id) in record.txs.iter().zip(&ids) {
            let mut value_in: u128 = 0;
            for input in &tx.inputs {
                match replay.unspent.remove(input) {
                    Some((owner, amount)) => {
                        if !tx.witnesses.iter().any(|w| w.owner == owner) {
                            replay.problems.push(format!(
                                "tx {id:?} spends {input:?} without its owner's witness"
                            ));
                        }
                        value_in += u128::from(amount);
                        spent.insert(*input, ());
                    }
                    None if spent.contains_key(input) => replay.double_spends += 1,
                    None => replay.unknown_inputs += 1,
                }
            }
            let value_out: u128 = tx.outputs.iter().map(|o| u128::from(o.amount.0)).sum();
            if value_out > value_in {
                replay
                    .problems
                    .push(format!("tx {id:?} creates {value_out} from {value_in}"));
            } else {
                replay.fees += value_in - value_out;
            }
            for (index, out) in tx.outputs.iter().enumerate() {
                let outpoint = OutPoint {
                    tx: ioschain_core::types::TxId(*id),
                    index: index as u32,
                };
                replay.unspent.insert(outpoint, (out.owner, out.amount.0));
            }
            if expected_valid.remove(&tx.witnessed_hash()).is_none() {
                replay.out_of_stream += 1;
            }
            if (tx_seen + sample_offset).is_multiple_of(SIGNATURE_SAMPLE_EVERY) {
                for witness in &tx.witnesses {
                    replay.signatures_checked += 1;
                    let ok = VerifyingKey::from_bytes(&witness.owner.0)
                        .map(|key| {
                            key.verify_strict(
                                id.as_bytes(),
                                &Signature::from_bytes(&witness.signature),
                            )
                            .is_ok()
                        })
                        .unwrap_or(false);
                    if !ok {
                        replay.signature_failures += 1;
                    }
                }
            }
            tx_seen += 1;
            replay.txs += 1;
        }
        prev = header.hash();
        expected_height += 1;
        replay.blocks += 1;
    });
    if let Err(e) = result {
        replay.problems.push(e.to_string());
    }
    // A failed-check proof must name a transaction that really fails against the final
    // history: a double spend re-spends an input a final transaction spent, an unknown
    // input never existed.
    for (tx, reason) in failed_checks {
        let confirmed = match reason {
            ioschain_core::tx::RejectReason::DoubleSpend => {
                tx.inputs.iter().any(|i| spent.contains_key(i))
            }
            ioschain_core::tx::RejectReason::UnknownInput => tx
                .inputs
                .iter()
                .any(|i| !spent.contains_key(i) && !replay.unspent.contains_key(i)),
            _ => false,
        };
        if !confirmed {
            replay.proofs_unconfirmed += 1;
        }
    }
    replay.missing_valid = expected_valid.len() as u64;
    replay
}

/// Runs every check on a finished run whose block log is under `log_dir`.
pub fn check_run(log_dir: &Path, workload: &Workload, outcome: &EngineOutcome) -> Vec<Check> {
    let shards: &[Shard] = &outcome.shards;
    let (driver, drained, store_blocks) = (&outcome.driver, outcome.drained, outcome.store.blocks);
    // Which transactions get their signatures re-checked differs from run to run, so no
    // fixed position is ever exempt.
    let sample_offset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as usize % SIGNATURE_SAMPLE_EVERY);
    let replays: Vec<Replay> = shards
        .par_iter()
        .map(|s| {
            let released = driver.released.get(s.id.0 as usize).copied().unwrap_or(0) as usize;
            replay_shard(log_dir, workload, s, released, sample_offset)
        })
        .collect();
    let mut checks = Vec::new();

    let problems: Vec<&String> = replays.iter().flat_map(|r| &r.problems).collect();
    let blocks: u64 = replays.iter().map(|r| r.blocks).sum();
    let sealed: u64 = shards.iter().map(|s| s.counters.blocks).sum();
    checks.push(check(
        "blocks_certified_and_linked",
        problems.is_empty() && blocks == sealed && blocks == store_blocks,
        if problems.is_empty() {
            format!("{blocks} blocks read back from the log, each certified by >2/3 of its roster, linked, body matching header; {sealed} sealed, {store_blocks} written")
        } else {
            format!("{} problems, first: {}", problems.len(), problems[0])
        },
    ));

    let referenced: u64 = replays.iter().map(|r| r.referenced).sum();
    let excluded: u64 = replays.iter().map(|r| r.excluded).sum();
    let logged: u64 = replays.iter().map(|r| r.txs).sum();
    let proofs: u64 = replays.iter().map(|r| r.proofs).sum();
    let unconfirmed: u64 = replays.iter().map(|r| r.proofs_unconfirmed).sum();
    let direct: u64 = replays.iter().map(|r| r.direct).sum();
    checks.push(check(
        "pob_finality_accounted",
        unconfirmed == 0 && referenced + direct == logged + excluded,
        format!(
            "the log finalizes {referenced} transactions of signed OptBlocks and {direct} the normal league ordered itself: {logged} logged + {excluded} excluded by {proofs} proofs or re-checks ({unconfirmed} failed-check proofs the replay could not confirm)"
        ),
    ));

    let mut wrongly_blamed = Vec::new();
    let mut blamed_total = 0;
    for (shard, replay) in shards.iter().zip(&replays) {
        blamed_total += replay.blamed.len();
        for culprit in &replay.blamed {
            if !shard.validators.byzantine.iter().any(|b| b.0 == *culprit) {
                wrongly_blamed.push(format!("shard {} validator {culprit}", shard.id));
            }
        }
    }
    let byzantine: usize = shards.iter().map(|s| s.validators.byzantine.len()).sum();
    checks.push(check(
        "only_byzantine_blamed",
        wrongly_blamed.is_empty(),
        if wrongly_blamed.is_empty() {
            format!("{blamed_total} proofs in the log, each against one of the {byzantine} Byzantine validators")
        } else {
            format!("honest validators blamed: {}", wrongly_blamed.join(", "))
        },
    ));

    let double: u64 = replays.iter().map(|r| r.double_spends).sum();
    let unknown: u64 = replays.iter().map(|r| r.unknown_inputs).sum();
    checks.push(check(
        "no_double_spend",
        double == 0 && unknown == 0,
        format!(
            "replaying the log: {double} inputs spent twice, {unknown} inputs that never existed"
        ),
    ));

    let genesis = workload.genesis_value();
    let replay_unspent: u128 = replays
        .iter()
        .flat_map(|r| r.unspent.values())
        .map(|(_, a)| u128::from(*a))
        .sum();
    let replay_fees: u128 = replays.iter().map(|r| r.fees).sum();
    let engine_unspent: u128 = shards.iter().map(|s| s.utxo.unspent_value()).sum();
    let engine_fees: u128 = shards.iter().map(|s| s.utxo.fees()).sum();
    let engine_locked: u128 = shards.iter().map(|s| s.utxo.locked_value()).sum();
    let engine_exported: u128 = shards.iter().map(|s| s.utxo.exported_value()).sum();
    checks.push(check(
        "value_conserved",
        replay_unspent + replay_fees == genesis
            && engine_unspent + engine_fees + engine_locked + engine_exported == genesis,
        format!(
            "genesis {genesis}; replay: unspent {replay_unspent} + fees {replay_fees}; engine: unspent {engine_unspent} + locked {engine_locked} + fees {engine_fees}"
        ),
    ));

    let mut state_diff = 0u64;
    for (shard, replay) in shards.iter().zip(&replays) {
        let mut engine_unspent = 0usize;
        for (outpoint, utxo) in shard.utxo.iter() {
            if utxo.state != UtxoState::Unspent {
                continue;
            }
            engine_unspent += 1;
            if replay.unspent.get(outpoint) != Some(&(utxo.owner, utxo.amount.0)) {
                state_diff += 1;
            }
        }
        state_diff += engine_unspent.abs_diff(replay.unspent.len()) as u64;
    }
    checks.push(check(
        "state_matches_log",
        state_diff == 0,
        format!("engine's unspent outputs vs. the log's replay: {state_diff} differences"),
    ));

    let checked: u64 = replays.iter().map(|r| r.signatures_checked).sum();
    let failed: u64 = replays.iter().map(|r| r.signature_failures).sum();
    checks.push(check(
        "signatures_resampled",
        failed == 0,
        format!("{checked} signatures of every {SIGNATURE_SAMPLE_EVERY}th logged transaction re-verified one by one, {failed} failed"),
    ));

    let mut unaccounted = 0u64;
    let mut details = Vec::new();
    for shard in shards {
        let released = driver
            .released
            .get(shard.id.0 as usize)
            .copied()
            .unwrap_or(0);
        let c = &shard.counters;
        let finished = c.final_ + c.rejected_total();
        if c.submitted != released || finished != released {
            unaccounted += released.abs_diff(finished);
            details.push(format!(
                "shard {}: released {released}, received {}, final {}, rejected {}",
                shard.id,
                c.submitted,
                c.final_,
                c.rejected_total()
            ));
        }
    }
    let released_total: u64 = driver.released.iter().sum();
    checks.push(check(
        "every_tx_accounted",
        unaccounted == 0 && drained,
        if details.is_empty() && drained {
            format!(
                "all {released_total} submitted transactions are final or rejected with a reason"
            )
        } else if !drained {
            format!("drain timed out: {}", details.join("; "))
        } else {
            details.join("; ")
        },
    ));

    let mismatched: u64 = shards.iter().map(|s| s.counters.mismatched).sum();
    let first = shards
        .iter()
        .find_map(|s| s.counters.first_mismatch.clone());
    let mut logged_vs_expected = Vec::new();
    for (shard, replay) in shards.iter().zip(&replays) {
        if replay.out_of_stream > 0 || replay.missing_valid > 0 {
            logged_vs_expected.push(format!(
                "shard {}: {} logged transactions are not a valid released transaction of the stream (or are logged twice), {} valid released ones are missing",
                shard.id, replay.out_of_stream, replay.missing_valid
            ));
        }
        if replay.txs != shard.counters.final_ {
            logged_vs_expected.push(format!(
                "shard {}: {} logged, engine counted {} final",
                shard.id, replay.txs, shard.counters.final_
            ));
        }
    }
    checks.push(check(
        "outcomes_as_expected",
        mismatched == 0 && logged_vs_expected.is_empty(),
        match (first, logged_vs_expected.first()) {
            (None, None) => {
                "every valid transaction final (the log holds exactly the stream's valid released transactions, each once, witnesses included), every invalid one rejected for the injected reason"
                    .into()
            }
            (Some(first), _) => format!("{mismatched} outcomes differ; first: {first}"),
            (None, Some(diff)) => diff.clone(),
        },
    ));
    checks
}
