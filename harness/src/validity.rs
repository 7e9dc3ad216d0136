//! The end-of-run validity checks (DESIGN.md §4, BENCHMARKING.md rule 5).
//!
//! The central check is an oracle that re-reads the block log from disk and replays it
//! with its own bookkeeping (a plain map from outpoint to owner and amount), without
//! `UtxoSet` or the engine's counters; its results are then compared with the engine's.
//! A run is valid only if every check passes: blocks certified by their roster and
//! linked, no output spent twice or out of nowhere, value conserved, the engine's final
//! state equal to the replayed one, every submitted transaction accounted for and with
//! the outcome the workload expected, and a sample of signatures re-verified one by one.
//!
//! Atomix (PROTOCOL.md §5.7) is checked from the logs' entries the same way: each
//! shard's replay moves outputs to *locked* on a lock entry (they must be unspent),
//! spends them on a commit entry and creates the outputs the shard owns, returns them
//! on an abort entry; then the entries of all shards are joined per transaction for
//! atomicity (A1), one decision per (tx, shard) (A3), commits backed by a lock of every
//! named shard under the committed declaration and aborts backed by a refusal (A4), no
//! entry applied twice (A5), value conserved over all shards (A6), and no lock left at
//! the end of a drained run (A7). Exclusivity (A2) is the replay itself: a locked output
//! is not unspent, so a second lock or a spend of it fails.
//!
//! What the oracle derives itself rather than take from the engine: the roster (from the
//! seed); every referenced OptBlock's `tx_root` (rebuilt from the logged and excluded
//! transactions); the leagues, the Byzantine validators and the FinalBlock signers of
//! every epoch (from the seed, the configuration and the standing the log implies); the
//! samplers of every referenced OptBlock, whose published VRF proofs are verified and
//! whose selected transactions are re-verified.
//!
//! Submodules: `atomix` (the Atomix replay and invariants), `optblocks` (the referenced
//! OptBlocks rebuilt: `optblock_roots_rebuilt`), `leagues` (standing, leagues and
//! Byzantine validators re-derived: `leagues_rederived`, `only_byzantine_blamed`,
//! `final_signers_are_normal_league`), `samples` (the published samples proven:
//! `samples_proven`), `outcomes` (the engine's outcomes against the
//! answer key: `canaries`, `outcomes_as_expected`).

use std::collections::HashMap;
use std::path::Path;

use ioschain_core::atomix::Entry;
use ioschain_core::merkle;
use ioschain_core::pob::final_body::FraudProof;
use ioschain_core::tx::Witness;
use ioschain_core::types::{Hash, OutPoint, Owner, TxId};
use ioschain_core::utxo::UtxoState;
use ioschain_workloads::{CrossExpected, Expected, Workload};

pub use ioschain_reports::summary::Check;
use rayon::prelude::*;

use crate::blocklog::{read_log, shard_path};

mod atomix;
mod leagues;
mod optblocks;
mod outcomes;
mod samples;

use crate::engine::host::Shard;
use crate::engine::{EngineOutcome, roster_keys, roster_of};
use atomix::{AtomixSeen, check_atomix};
use ioschain_core::node::pob::PobParams;
use leagues::LeagueReplay;
use optblocks::OptRoots;
use samples::SampleReplay;

fn check(name: &str, ok: bool, detail: String) -> Check {
    Check {
        name: name.into(),
        ok,
        detail,
    }
}

/// Every `SIGNATURE_SAMPLE_EVERY`-th transaction in the log has its signatures
/// re-verified one by one.
pub const SIGNATURE_SAMPLE_EVERY: usize = 64;

/// A witness's verdict under ZIP-215 by ed25519-zebra's single verification: an
/// implementation independent of `core::crypto::sig`, which the engine uses.
fn zip215_valid(witness: &Witness, message: &[u8]) -> bool {
    ed25519_zebra::VerificationKey::try_from(witness.owner.0).is_ok_and(|key| {
        key.verify(
            &ed25519_zebra::Signature::from_bytes(&witness.signature),
            message,
        )
        .is_ok()
    })
}

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
    /// The referenced OptBlocks rebuilt.
    roots: OptRoots,
    /// Standing, leagues and Byzantine validators re-derived.
    leagues: LeagueReplay,
    /// The normal league's samples proven.
    samples: SampleReplay,
    /// Valid released transactions never logged.
    missing_valid: u64,
    double_spends: u64,
    unknown_inputs: u64,
    unspent: HashMap<OutPoint, (Owner, u64)>,
    /// Outputs locked by a cross-shard transaction (Atomix), with it.
    locked: HashMap<OutPoint, (TxId, Owner, u64)>,
    /// This shard's Atomix entries, per transaction.
    atomix_seen: HashMap<TxId, AtomixSeen>,
    /// Atomix problems found replaying this shard's entries (reported by
    /// `atomix_invariants`).
    atomix_problems: Vec<String>,
    fees: u128,
    signatures_checked: u64,
    signature_failures: u64,
    /// Witnesses of logged edge-signed transactions re-verified (all of them).
    edge_checked: u64,
    /// Released edge-signed transactions the answer key says must be rejected, and
    /// those of them ed25519-zebra accepts (the answer key would be wrong).
    edge_rejected: u64,
    edge_disputed: u64,
    /// Bad-signature fraud proofs, and those whose transaction ed25519-zebra accepts.
    fraud_proofs: u64,
    fraud_disputed: u64,
    /// Released canaries found in the log (each must have been rejected).
    canaries_logged: u64,
}

fn replay_shard(
    dir: &Path,
    workload: &Workload,
    pob: &PobParams,
    shard: &Shard,
    released: usize,
    sample_offset: usize,
    drained: bool,
) -> Replay {
    let mut replay = Replay::default();
    for (outpoint, out) in &workload.shards[shard.id.0 as usize].genesis {
        replay.unspent.insert(*outpoint, (out.owner, out.amount.0));
    }
    let mut spent: HashMap<OutPoint, ()> = HashMap::new();
    // The roster is rebuilt from the seed, not taken from the engine.
    let keys = roster_keys(workload.spec.seed, shard.id.0, shard.node.roster.len());
    let roster = match roster_of(&keys) {
        Ok(roster) => roster,
        Err(e) => {
            replay
                .problems
                .push(format!("shard {}: roster: {e}", shard.id));
            return replay;
        }
    };
    let roster = &roster;
    replay.leagues = LeagueReplay::new(
        workload.spec.seed,
        shard.id,
        pob,
        roster.len(),
        roster.threshold(),
    );
    replay.samples = SampleReplay::new(workload.spec.seed, shard.id, pob, roster.len());
    // The stream's valid released transactions, by their whole-transaction hash: the
    // log must hold exactly these, each once (OptBlocks of different believable
    // validators interleave, so the order is the league's, not the stream's).
    // Shed ones are neither: they never reached the validators.
    let part = &workload.shards[shard.id.0 as usize];
    let shed: std::collections::HashSet<u32> =
        shard.clients.shed.iter().map(|&(index, _)| index).collect();
    let mut expected_valid: HashMap<Hash, ()> = part.txs[..released.min(part.txs.len())]
        .iter()
        .zip(&part.expected)
        .enumerate()
        .filter(|(index, (_, e))| **e == Expected::Valid && !shed.contains(&(*index as u32)))
        .map(|(_, (tx, _))| (tx.witnessed_hash(), ()))
        .collect();
    // Canaries (answer key): none may be in the log.
    let canaries: HashMap<Hash, ()> = part
        .canaries
        .iter()
        .filter(|i| (**i as usize) < released)
        .map(|&i| (part.txs[i as usize].witnessed_hash(), ()))
        .collect();
    // Edge-signed transactions (answer key): every logged one is re-verified whole, and
    // every one expected rejected must fail under ed25519-zebra too.
    let mut edge_logged: HashMap<Hash, ()> = HashMap::new();
    for &i in part
        .edge_signatures
        .iter()
        .filter(|i| (**i as usize) < released)
    {
        let tx = &part.txs[i as usize];
        if part.expected[i as usize] == Expected::Valid {
            edge_logged.insert(tx.witnessed_hash(), ());
        } else {
            replay.edge_rejected += 1;
            let id = tx.id();
            if tx
                .witnesses
                .iter()
                .all(|w| zip215_valid(w, id.0.as_bytes()))
            {
                replay.edge_disputed += 1;
            }
        }
    }
    // OptBlock signing keys of the roster, derived from the seed.
    let opt_keys: HashMap<[u8; 32], u32> = ioschain_core::node::pob::Validators::genesis(
        workload.spec.seed,
        shard.id,
        roster.len(),
        1,
    )
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
        replay.leagues.on_record(&record);
        replay.samples.on_record(&record, &replay.leagues);
        let samples = &mut replay.samples;
        (replay.roots).on_record(shard.id, &record, &mut |i, signed, txs| {
            samples.on_block(i, signed, txs);
        });
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
            if !proof.culprit().is_ok_and(|key| opt_keys.contains_key(&key)) {
                replay.problems.push(format!(
                    "block {} of shard {}: a {} proof does not verify against a roster validator",
                    header.height,
                    shard.id,
                    proof.kind()
                ));
            }
            match proof {
                FraudProof::FailedCheck(check) => {
                    failed_checks.push((check.tx.clone(), check.reason))
                }
                FraudProof::BadSignature(fraud) => {
                    replay.fraud_proofs += 1;
                    let id = fraud.tx.id();
                    if fraud
                        .tx
                        .witnesses
                        .iter()
                        .all(|w| zip215_valid(w, id.0.as_bytes()))
                    {
                        replay.fraud_disputed += 1;
                    }
                }
                FraudProof::Equivocation(_) => {}
            }
        }
        let ids: Vec<Hash> = record.txs.iter().map(|tx| tx.id().0).collect();
        if header.tx_count as usize != ids.len() || merkle::root(&ids) != header.tx_root {
            replay.problems.push(format!(
                "block {} of shard {}: body does not match header",
                header.height, shard.id
            ));
        }
        // Within a block, as the engine applied them: the transactions (every one was
        // applied before the Atomix requests the block's FinalBlock ordered), then the
        // entries in log order. A lock never takes an output whose creator is not
        // final, and the outputs a commit creates are spent only in later blocks.
        let shard_count = workload.shards.len() as u32;
        let entries: Vec<Entry> = record.atomix.iter().map(|(e, _)| *e).collect();
        if ioschain_core::atomix::atomix_root(&entries) != header.atomix_root {
            replay.atomix_problems.push(format!(
                "block {} of shard {}: Atomix entries do not match the header's atomix_root",
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
            let witnessed = tx.witnessed_hash();
            if expected_valid.remove(&witnessed).is_none() {
                replay.out_of_stream += 1;
            }
            replay.canaries_logged += u64::from(canaries.contains_key(&witnessed));
            let edge = edge_logged.remove(&witnessed).is_some();
            replay.edge_checked += if edge { tx.witnesses.len() as u64 } else { 0 };
            if edge || (tx_seen + sample_offset).is_multiple_of(SIGNATURE_SAMPLE_EVERY) {
                for witness in &tx.witnesses {
                    replay.signatures_checked += 1;
                    if !zip215_valid(witness, id.as_bytes()) {
                        replay.signature_failures += 1;
                    }
                }
            }
            tx_seen += 1;
            replay.txs += 1;
        }
        for (entry, xtx) in &record.atomix {
            replay.apply_entry(shard.id, shard_count, entry, xtx);
        }
        prev = header.hash();
        expected_height += 1;
        replay.blocks += 1;
    });
    if let Err(e) = result {
        replay.problems.push(e.to_string());
    }
    replay.roots.finish(shard.id, drained);
    replay.leagues.finish(&shard.node.validators.byzantine);
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

/// Runs every check on a finished run whose block log is under `log_dir`, with the PoB
/// settings `pob` of the run's configuration.
pub fn check_run(
    log_dir: &Path,
    workload: &Workload,
    pob: &PobParams,
    outcome: &EngineOutcome,
) -> Vec<Check> {
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
            replay_shard(log_dir, workload, pob, s, released, sample_offset, drained)
        })
        .collect();
    let mut checks = Vec::new();

    let problems: Vec<&String> = replays.iter().flat_map(|r| &r.problems).collect();
    let blocks: u64 = replays.iter().map(|r| r.blocks).sum();
    let built: u64 = shards.iter().map(|s| s.node.counters.blocks).sum();
    checks.push(check(
        "blocks_certified_and_linked",
        problems.is_empty() && blocks == built && blocks == store_blocks,
        if problems.is_empty() {
            format!("{blocks} blocks read back from the log, each certified by >2/3 of its roster, linked, body matching header; {built} built, {store_blocks} written")
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

    checks.extend(rederived_checks(&replays));

    let double: u64 = replays.iter().map(|r| r.double_spends).sum();
    let unknown: u64 = replays.iter().map(|r| r.unknown_inputs).sum();
    checks.push(check(
        "no_double_spend",
        double == 0 && unknown == 0,
        format!(
            "replaying the log: {double} inputs spent twice, {unknown} inputs that never existed"
        ),
    ));

    let shard_count = workload.shards.len() as u32;
    let (atomix_problems, cross_fees, atomix_outcome) =
        check_atomix(&replays, shard_count, drained);
    // Every released cross-shard transaction's outcome, from the logs, against what the
    // workload expected (a transaction no shard logged anything about never reached one).
    let mut atomix_unexpected = Vec::new();
    let mut atomix_released = 0u64;
    let mut atomix_committed = 0u64;
    let mut atomix_shed = 0u64;
    for (shard, part) in workload.shards.iter().enumerate() {
        let released = driver.released.get(shard).copied().unwrap_or(0) as u32;
        let shed: std::collections::HashSet<u32> = shards
            .iter()
            .find(|s| s.id.0 as usize == shard)
            .map(|s| s.clients.shed.iter().map(|&(index, _)| index).collect())
            .unwrap_or_default();
        for item in part.cross.iter().filter(|c| c.index < released) {
            atomix_released += 1;
            let id = part.txs[item.index as usize].id();
            let committed = atomix_outcome.get(&id).copied();
            if shed.contains(&item.index) {
                // Its client never sent it: no shard may hold an entry of it.
                atomix_shed += 1;
                if committed.is_some() {
                    atomix_unexpected.push(format!(
                        "shard {shard} tx {}: shed, yet the logs hold an outcome of it",
                        item.index
                    ));
                }
                continue;
            }
            atomix_committed += u64::from(committed == Some(true));
            // Both of a conflicting pair committed is a violation whenever it shows;
            // any other outcome is only known once the run drained.
            let ok = match item.expected {
                CrossExpected::Commit => !drained || committed == Some(true),
                CrossExpected::Abort => !drained || committed == Some(false),
                CrossExpected::AtMostOne { partner } => {
                    let other = part.txs[partner as usize].id();
                    (!drained || committed.is_some())
                        && !(committed == Some(true) && atomix_outcome.get(&other) == Some(&true))
                }
            };
            if !ok {
                atomix_unexpected.push(format!(
                    "shard {shard} tx {}: expected {:?}, logs show {}",
                    item.index,
                    item.expected,
                    match committed {
                        Some(true) => "a commit",
                        Some(false) => "no commit",
                        None => "nothing",
                    }
                ));
            }
        }
    }
    checks.push(check(
        "atomix_invariants",
        atomix_problems.is_empty() && atomix_unexpected.is_empty(),
        if atomix_problems.is_empty() && atomix_unexpected.is_empty() {
            format!(
                "{} cross-shard transactions in the logs, {atomix_released} released ({atomix_shed} shed, absent from the logs): {atomix_committed} committed at every involved shard with a lock of every named shard, the rest aborted with a refusal in the logs; one decision per (tx, shard), no entry applied twice, no lock left (A1–A7), every outcome as the workload expected",
                atomix_outcome.len()
            )
        } else {
            let mut all = atomix_problems.clone();
            all.extend(atomix_unexpected.iter().cloned());
            format!("{} problems, first: {}", all.len(), all[0])
        },
    ));

    let genesis = workload.genesis_value();
    let replay_unspent: u128 = replays
        .iter()
        .flat_map(|r| r.unspent.values())
        .map(|(_, a)| u128::from(*a))
        .sum();
    let replay_locked: u128 = replays
        .iter()
        .flat_map(|r| r.locked.values())
        .map(|(_, _, a)| u128::from(*a))
        .sum();
    let replay_fees: u128 = replays.iter().map(|r| r.fees).sum();
    let engine_unspent: u128 = shards.iter().map(|s| s.node.utxo.unspent_value()).sum();
    let engine_fees: u128 = shards.iter().map(|s| s.node.utxo.fees()).sum();
    let engine_locked: u128 = shards.iter().map(|s| s.node.utxo.locked_value()).sum();
    let engine_exported: u128 = shards.iter().map(|s| s.node.utxo.exported_value()).sum();
    let engine_imported: u128 = shards.iter().map(|s| s.node.atomix.counters.created).sum();
    checks.push(check(
        "value_conserved",
        replay_unspent + replay_locked + replay_fees + cross_fees == genesis
            && engine_unspent + engine_fees + engine_locked + engine_exported
                == genesis + engine_imported,
        format!(
            "genesis {genesis}; replay: unspent {replay_unspent} + locked {replay_locked} + fees {replay_fees} + cross-shard fees {cross_fees}; engine: unspent {engine_unspent} + locked {engine_locked} + fees {engine_fees} + exported by cross-shard commits {engine_exported} − created by them {engine_imported}"
        ),
    ));

    let mut state_diff = 0u64;
    for (shard, replay) in shards.iter().zip(&replays) {
        let mut engine_unspent = 0usize;
        for (outpoint, utxo) in shard.node.utxo.iter() {
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

    let sum = |f: fn(&Replay) -> u64| replays.iter().map(f).sum::<u64>();
    let (checked, failed) = (sum(|r| r.signatures_checked), sum(|r| r.signature_failures));
    let (edge_checked, edge_rejected) = (sum(|r| r.edge_checked), sum(|r| r.edge_rejected));
    let (fraud, disputed) = (
        sum(|r| r.fraud_proofs),
        sum(|r| r.fraud_disputed) + sum(|r| r.edge_disputed),
    );
    checks.push(check(
        "signatures_resampled",
        failed == 0 && disputed == 0,
        format!(
            "{checked} signatures re-verified alone by ed25519-zebra (every {SIGNATURE_SAMPLE_EVERY}th logged transaction's, and all {edge_checked} of logged edge-signed transactions), {failed} failed; {edge_rejected} edge-signed transactions expected rejected and {fraud} bad-signature fraud proofs in the log, {disputed} of them valid under ed25519-zebra"
        ),
    ));

    let outcomes = outcomes::ShardOutcomes::collect(workload, shards, driver);
    checks.push(outcomes::canaries_check(&outcomes, &replays));

    let mut unaccounted = 0u64;
    let mut details = Vec::new();
    for shard in shards {
        let released = driver
            .released
            .get(shard.id.0 as usize)
            .copied()
            .unwrap_or(0);
        let c = &shard.counters();
        let x = &shard.atomix_counters();
        let shed = shard.clients.shed.len() as u64;
        let finished = c.final_ + c.rejected_total() + x.committed + x.aborted + shed;
        if c.submitted != released || finished != released || shard.shed() != shed {
            unaccounted += released.abs_diff(finished);
            details.push(format!(
                "shard {}: released {released}, received {}, final {}, rejected {}, cross-shard committed {} and aborted {}, shed {shed} (host counted {})",
                shard.id,
                c.submitted,
                c.final_,
                c.rejected_total(),
                x.committed,
                x.aborted,
                shard.shed()
            ));
        }
    }
    let released_total: u64 = driver.released.iter().sum();
    checks.push(check(
        "every_tx_accounted",
        unaccounted == 0 && details.is_empty() && drained,
        if details.is_empty() && drained {
            format!(
                "all {released_total} submitted transactions are final, rejected with a reason, (cross-shard) committed or aborted, or shed"
            )
        } else if !drained {
            format!("drain timed out: {}", details.join("; "))
        } else {
            details.join("; ")
        },
    ));

    checks.push(outcomes::outcomes_check(&outcomes, &replays));
    checks.push(outcomes::shed_check(workload, &outcomes));
    checks
}

/// The checks of what the oracle re-derives: the referenced OptBlocks' roots, the
/// leagues and Byzantine validators, the blamed validators and the FinalBlock signers.
fn rederived_checks(replays: &[Replay]) -> Vec<Check> {
    let sum = |f: fn(&Replay) -> u64| replays.iter().map(f).sum::<u64>();
    let first = |problems: &[&String]| {
        format!(
            "{} problems, first: {}",
            problems.len(),
            problems.first().map_or("", |p| p.as_str())
        )
    };
    let mut checks = Vec::new();
    let problems: Vec<&String> = replays.iter().flat_map(|r| &r.roots.problems).collect();
    checks.push(check(
        "optblock_roots_rebuilt",
        problems.is_empty(),
        if problems.is_empty() {
            format!(
                "{} referenced OptBlocks rebuilt: each signed tx_root recomputed from the logged transactions and {} excluded ones (their bodies from the log's annex, each listed as excluded by a certified PoB body)",
                sum(|r| r.roots.rebuilt),
                sum(|r| r.roots.excluded_bodies)
            )
        } else {
            first(&problems)
        },
    ));
    let problems: Vec<&String> = (replays.iter())
        .flat_map(|r| &r.leagues.league_problems)
        .collect();
    let byzantine: usize = replays.iter().map(|r| r.leagues.byzantine.len()).sum();
    checks.push(check(
        "leagues_rederived",
        problems.is_empty(),
        if problems.is_empty() {
            format!(
                "{} epochs' leagues re-derived from the seed, the config and the standing the log implies: all {} referenced OptBlocks signed by the derived believable validator at their league index; {byzantine} Byzantine validators derived, as the engine reports",
                replays.iter().map(|r| r.leagues.epochs()).sum::<usize>(),
                sum(|r| r.leagues.refs_checked)
            )
        } else {
            first(&problems)
        },
    ));
    let honest: Vec<&String> = (replays.iter())
        .flat_map(|r| &r.leagues.blamed_honest)
        .collect();
    checks.push(check(
        "only_byzantine_blamed",
        honest.is_empty(),
        if honest.is_empty() {
            format!(
                "{} proofs in the log, each against one of the {byzantine} validators the seed and config make Byzantine",
                sum(|r| r.leagues.blamed)
            )
        } else {
            format!(
                "validators blamed that the seed and config do not make Byzantine: {}",
                honest
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
    ));
    checks.push(samples_check(replays));
    let problems: Vec<&String> = (replays.iter())
        .flat_map(|r| &r.leagues.signer_problems)
        .collect();
    checks.push(check(
        "final_signers_are_normal_league",
        problems.is_empty(),
        if problems.is_empty() {
            format!(
                "all {} FinalBlocks cosigned by exactly the non-banned normal league of their epoch (the whole roster when fewer than the threshold remain)",
                sum(|r| r.blocks)
            )
        } else {
            first(&problems)
        },
    ));
    checks
}

/// `samples_proven` (see `samples.rs`).
fn samples_check(replays: &[Replay]) -> Check {
    let sum = |f: fn(&SampleReplay) -> u64| replays.iter().map(|r| f(&r.samples)).sum::<u64>();
    let problems: Vec<&String> = replays.iter().flat_map(|r| &r.samples.problems).collect();
    check(
        "samples_proven",
        problems.is_empty(),
        match problems.first() {
            None => format!(
                "{} referenced OptBlocks each carry one VRF proof per sampler the leagues imply ({} proofs, each verified under its sampler's key over the block's hash), {} more re-verified in full (slashed signer); the {} logged transactions they select all have valid signatures, {} selected ones were excluded",
                sum(|s| s.sampled),
                sum(|s| s.proofs),
                sum(|s| s.full),
                sum(|s| s.selected),
                sum(|s| s.selected_excluded)
            ),
            Some(first) => format!("{} problems, first: {first}", problems.len()),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oracle_judges_witnesses_by_zip215_not_by_a_cofactorless_rule() {
        use ed25519_dalek::{SigningKey, Verifier};
        use ioschain_workloads::edge::EdgeSignature;
        let key = SigningKey::from_bytes(&[9; 32]);
        let message = [3u8; 32];
        let witness = |kind: EdgeSignature| Witness {
            owner: Owner(key.verifying_key().to_bytes()),
            signature: kind.sign(&key, &message, b"oracle"),
        };
        // Valid only under the cofactored equation: ed25519-dalek's own verify rejects it.
        let torsion = witness(EdgeSignature::TorsionR8);
        assert!(
            key.verifying_key()
                .verify(
                    &message,
                    &ed25519_dalek::Signature::from_bytes(&torsion.signature)
                )
                .is_err()
        );
        assert!(zip215_valid(&torsion, &message));
        // And the oracle fails what the rule fails.
        for kind in [
            EdgeSignature::NonCanonicalS,
            EdgeSignature::RNotOnCurve,
            EdgeSignature::TorsionRHashMismatch,
        ] {
            assert!(!zip215_valid(&witness(kind), &message), "{kind:?}");
        }
        assert!(!zip215_valid(&torsion, &[4u8; 32]));
    }
}
