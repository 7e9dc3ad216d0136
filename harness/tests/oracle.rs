//! The oracle's re-derived checks (issue 12, item 6): each passes on a real Byzantine
//! run and fails when the block log on disk, or the configuration the oracle is given,
//! is tampered with:
//! - `optblock_roots_rebuilt`: an excluded transaction's body in the log's annex changed,
//!   or its place moved;
//! - `only_byzantine_blamed` and `leagues_rederived`: the oracle is told the run had no
//!   Byzantine validators, or another league size;
//! - `final_signers_are_normal_league`: a FinalBlock re-cosigned (validly) by the whole
//!   roster instead of its normal league;
//! - `samples_proven`: a sampler's VRF proof with a flipped byte, a proof missing or
//!   credited to another validator, or a selected transaction with a bad signature
//!   finalized instead of excluded, each re-signed into a valid chain (PoB and tx roots,
//!   certificates and links recomputed with the roster's keys).

mod common;

use std::path::Path;
use std::sync::Arc;

use ioschain_core::block::FinalCertificate;
use ioschain_core::crypto::cosi::{Signers, sign_round};
use ioschain_core::crypto::vrf::VrfProof;
use ioschain_core::merkle;
use ioschain_core::node::pob::{PobParams, Validators};
use ioschain_core::pob::sample::Sample;
use ioschain_core::types::{Hash, ShardId};
use ioschain_harness::blocklog::{Record, encode_record, read_log, shard_path};
use ioschain_harness::engine::stream::StreamSource;
use ioschain_harness::engine::{self, EngineOutcome, roster_keys, roster_of};
use ioschain_harness::run::{cached_workload, engine_params, resolve_config, workload};
use ioschain_harness::validity::{self, Check};
use ioschain_workloads::Workload;

const VALIDATORS: usize = 7;

/// A tiny two-shard run of the engine with `extra` flags: the workload, the run's PoB
/// settings and the outcome (its block log under `dir/blocks`).
fn engine_run(dir: &Path, extra: &[&str]) -> (Arc<Workload>, PobParams, EngineOutcome) {
    engine_run_on(dir, common::TINY_RUN, extra)
}

/// [`engine_run`] on the run flags `base` instead of [`common::TINY_RUN`].
fn engine_run_on(
    dir: &Path,
    base: &[&str],
    extra: &[&str],
) -> (Arc<Workload>, PobParams, EngineOutcome) {
    let cache = dir.join("cache");
    let mut args = vec![
        "--shards",
        "2",
        "--cores",
        "2",
        "--rate",
        "3000",
        "--block-interval-ms",
        "20",
        "--cache-dir",
        cache.to_str().unwrap(),
    ];
    args.extend_from_slice(base);
    args.extend_from_slice(extra);
    let config = resolve_config(&common::run_args(&args)).unwrap();
    let workload = Arc::new(workload(&config).unwrap());
    // The engine reads the cache file as the run goes, in small chunks (512 positions
    // loaded before the start), like a long run does.
    let stream = StreamSource::Cache {
        path: cached_workload(&config).unwrap(),
        spec: config.workload_spec(),
    };
    let mut params = engine_params(
        &config,
        stream,
        dir.join("blocks"),
        ioschain_harness::config::Backend::Write,
    )
    .unwrap();
    (params.preload_positions, params.load_chunk) = (512, 256);
    let outcome = engine::run(&params, |_| {}).unwrap();
    if outcome.drained {
        // Every released transaction was done, so every chunk of released positions
        // was dropped (receipts and done marks reach every position).
        for (shard, released) in outcome.shards.iter().zip(&outcome.driver.released) {
            let released = *released as u32;
            let start = shard.clients.window.start();
            assert!(
                start >= released - released % 256,
                "shard {}: window starts at {start} after {released} released and done",
                shard.id
            );
        }
    }
    (workload, params.pob, outcome)
}

fn failed(checks: &[Check]) -> Vec<&str> {
    checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.name.as_str())
        .collect()
}

fn detail<'a>(checks: &'a [Check], name: &str) -> &'a str {
    &checks.iter().find(|c| c.name == name).unwrap().detail
}

fn records(dir: &Path, shard: u32) -> Vec<Record> {
    let mut records = Vec::new();
    read_log(&shard_path(&dir.join("blocks"), shard), VALIDATORS, |r| {
        records.push(r)
    })
    .unwrap();
    records
}

/// Writes `records` as shard `shard`'s log (each record re-encoded, checksum included).
fn write_log(dir: &Path, shard: u32, records: &[Record]) {
    let mut bytes = Vec::new();
    for r in records {
        encode_record(
            &mut bytes,
            &r.header,
            r.txs.iter(),
            &r.certificate,
            &r.pob,
            r.atomix.iter().map(|(e, x)| (e, x)),
            &r.annex,
        );
    }
    std::fs::write(shard_path(&dir.join("blocks"), shard), bytes).unwrap();
}

#[test]
fn excluded_bodies_rebuild_every_root_and_a_changed_or_moved_one_breaks_it() {
    let dir = tempfile::tempdir().unwrap();
    // Every transaction the corrupted validator signs is forged; every normal validator
    // samples, so they are excluded (their bodies are in no stream and not logged).
    let (workload, pob, outcome) = engine_run(
        dir.path(),
        &["--byzantine", "bad-signature", "--samplers", "all"],
    );
    let checks = validity::check_run(&dir.path().join("blocks"), &workload, &pob, &outcome);
    assert!(failed(&checks).is_empty(), "{checks:#?}");
    let rebuilt = detail(&checks, "optblock_roots_rebuilt");
    assert!(!rebuilt.contains(" and 0 excluded"), "{rebuilt}");

    let original = records(dir.path(), 0);
    let at = original
        .iter()
        .position(|r| !r.annex.excluded.is_empty())
        .expect("shard 0 excluded a forged transaction");
    // The forged copy's signature "repaired" to the stream's: same id, another leaf.
    let mut tampered = records(dir.path(), 0);
    tampered[at].annex.excluded[0].tx.witnesses[0].signature[0] ^= 1;
    write_log(dir.path(), 0, &tampered);
    let checks = validity::check_run(&dir.path().join("blocks"), &workload, &pob, &outcome);
    assert_eq!(failed(&checks), ["optblock_roots_rebuilt"], "{checks:#?}");

    // The excluded transaction moved one position on (or off the end of its block).
    let mut tampered = records(dir.path(), 0);
    tampered[at].annex.excluded[0].tx.witnesses[0].signature[0] ^= 1;
    tampered[at].annex.excluded[0].position += 1;
    write_log(dir.path(), 0, &tampered);
    let checks = validity::check_run(&dir.path().join("blocks"), &workload, &pob, &outcome);
    assert_eq!(failed(&checks), ["optblock_roots_rebuilt"], "{checks:#?}");

    // The annex's bodies dropped: the OptBlocks no longer add up.
    let mut tampered = records(dir.path(), 0);
    for r in &mut tampered {
        r.annex.excluded.clear();
    }
    write_log(dir.path(), 0, &tampered);
    let checks = validity::check_run(&dir.path().join("blocks"), &workload, &pob, &outcome);
    assert_eq!(failed(&checks), ["optblock_roots_rebuilt"], "{checks:#?}");

    write_log(dir.path(), 0, &original);
    let checks = validity::check_run(&dir.path().join("blocks"), &workload, &pob, &outcome);
    assert!(failed(&checks).is_empty(), "{checks:#?}");
}

#[test]
fn byzantine_validators_and_leagues_come_from_the_seed_and_the_config() {
    let dir = tempfile::tempdir().unwrap();
    // A crashed validator misses duties and loses its seat over several epochs; the
    // adversary then corrupts a believable validator of a later league.
    let (workload, pob, outcome) = engine_run(
        dir.path(),
        &["--byzantine", "crash", "--epoch-final-blocks", "10"],
    );
    let log = dir.path().join("blocks");
    let checks = validity::check_run(&log, &workload, &pob, &outcome);
    assert!(failed(&checks).is_empty(), "{checks:#?}");
    assert!(
        records(dir.path(), 0)
            .iter()
            .any(|r| !r.annex.missed.is_empty()),
        "the crashed validator missed duties"
    );
    let epochs: usize = detail(&checks, "leagues_rederived")
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(epochs >= 6, "{checks:#?}");

    // Told the run had no Byzantine validators, the oracle finds the missed duties
    // charged to an honest validator and the engine's list unexplained.
    let honest = PobParams {
        byzantine: None,
        ..pob.clone()
    };
    let checks = validity::check_run(&log, &workload, &honest, &outcome);
    assert_eq!(failed(&checks), ["leagues_rederived"], "{checks:#?}");

    // Told another league size, it finds the OptBlocks signed by the wrong validators and
    // the FinalBlocks by the wrong league.
    let smaller = PobParams {
        believable: 1,
        ..pob.clone()
    };
    let checks = validity::check_run(&log, &workload, &smaller, &outcome);
    let failed = failed(&checks);
    assert!(failed.contains(&"leagues_rederived"), "{failed:?}");
    assert!(
        failed.contains(&"final_signers_are_normal_league"),
        "{failed:?}"
    );
}

#[test]
fn a_proof_against_a_validator_the_config_does_not_corrupt_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    let (workload, pob, outcome) = engine_run(dir.path(), &["--byzantine", "equivocate"]);
    let log = dir.path().join("blocks");
    let checks = validity::check_run(&log, &workload, &pob, &outcome);
    assert!(failed(&checks).is_empty(), "{checks:#?}");
    let blamed = detail(&checks, "only_byzantine_blamed");
    assert!(!blamed.starts_with("0 proofs"), "{blamed}");

    let honest = PobParams {
        byzantine: None,
        ..pob.clone()
    };
    let checks = validity::check_run(&log, &workload, &honest, &outcome);
    let failed = failed(&checks);
    assert!(failed.contains(&"only_byzantine_blamed"), "{failed:?}");
    // Only in another shard: shard 0's culprits are honest by that config.
    let elsewhere = PobParams {
        byzantine: pob.byzantine.clone().map(|mut b| {
            b.shards = vec![1];
            b
        }),
        ..pob.clone()
    };
    let checks = validity::check_run(&log, &workload, &elsewhere, &outcome);
    let d = detail(&checks, "only_byzantine_blamed");
    assert!(d.contains("shard 0 validator"), "{d}");
}

#[test]
fn a_final_block_cosigned_by_the_whole_roster_is_not_the_normal_leagues() {
    let dir = tempfile::tempdir().unwrap();
    let (workload, pob, outcome) = engine_run(dir.path(), &[]);
    let log = dir.path().join("blocks");
    let checks = validity::check_run(&log, &workload, &pob, &outcome);
    assert!(failed(&checks).is_empty(), "{checks:#?}");

    // Block 0 re-cosigned by all 7 validators: a valid certificate (above the
    // threshold), but 2 of its signers are the believable league.
    let keys = roster_keys(workload.spec.seed, 0, VALIDATORS);
    let roster = roster_of(&keys).unwrap();
    let mut tampered = records(dir.path(), 0);
    let first = &mut tampered[0];
    assert_ne!(first.certificate.cosig.signers.count(), VALIDATORS);
    first.certificate.cosig = sign_round(
        &roster,
        &keys,
        &Signers::all(VALIDATORS),
        &first.certificate.header_hash.0,
        &[7; 32],
    );
    first.certificate.verify(&first.header, &roster).unwrap();
    write_log(dir.path(), 0, &tampered);
    let checks = validity::check_run(&log, &workload, &pob, &outcome);
    assert_eq!(
        failed(&checks),
        ["final_signers_are_normal_league"],
        "{checks:#?}"
    );
}

/// Re-seals shard 0's `records` from `from` on as a forger holding every roster key
/// would: each header's tx and PoB roots recomputed, linked to the previous header, and
/// re-cosigned by the same signers; then writes the log.
fn reseal(dir: &Path, seed: u64, records: &mut [Record], from: usize) {
    let keys = roster_keys(seed, 0, VALIDATORS);
    let roster = roster_of(&keys).unwrap();
    for k in from..records.len() {
        let prev = if k == 0 {
            Hash::ZERO
        } else {
            records[k - 1].header.hash()
        };
        let r = &mut records[k];
        let ids: Vec<Hash> = r.txs.iter().map(|tx| tx.id().0).collect();
        r.header.tx_root = merkle::root(&ids);
        r.header.tx_count = ids.len() as u32;
        r.header.pob_root = r.pob.root();
        r.header.prev = prev;
        let header_hash = r.header.hash();
        let signers = r.certificate.cosig.signers.clone();
        r.certificate = FinalCertificate {
            header_hash,
            cosig: sign_round(&roster, &keys, &signers, &header_hash.0, &[7; 32]),
        };
        r.certificate.verify(&r.header, &roster).unwrap();
    }
    write_log(dir, 0, records);
}

#[test]
fn sample_proofs_are_verified_and_a_flipped_missing_or_reassigned_one_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (workload, pob, outcome) = engine_run(dir.path(), &[]);
    let log = dir.path().join("blocks");
    let seed = workload.spec.seed;
    let checks = validity::check_run(&log, &workload, &pob, &outcome);
    assert!(failed(&checks).is_empty(), "{checks:#?}");
    let proven = detail(&checks, "samples_proven");
    assert!(!proven.starts_with("0 referenced"), "{proven}");

    let original = records(dir.path(), 0);
    let at = (original.iter())
        .position(|r| r.pob.samples.iter().any(|l| !l.is_empty()))
        .expect("shard 0 finalized a sampled OptBlock");
    let i = original[at]
        .pob
        .samples
        .iter()
        .position(|l| !l.is_empty())
        .unwrap();
    // One sampler by default: exactly one proof per referenced OptBlock.
    assert!(
        original
            .iter()
            .all(|r| r.pob.samples.iter().all(|l| l.len() == 1))
    );

    // Each tampering starts from the original log.
    let fresh = || {
        write_log(dir.path(), 0, &original);
        records(dir.path(), 0)
    };

    // A bit of `c` flipped: the proof still decodes, and no longer verifies.
    let mut tampered = fresh();
    let mut raw = tampered[at].pob.samples[i][0].proof.to_bytes();
    raw[40] ^= 1;
    tampered[at].pob.samples[i][0].proof = VrfProof::from_bytes(&raw).unwrap();
    reseal(dir.path(), seed, &mut tampered, at);
    let checks = validity::check_run(&log, &workload, &pob, &outcome);
    assert_eq!(failed(&checks), ["samples_proven"], "{checks:#?}");
    assert!(detail(&checks, "samples_proven").contains("does not verify"));

    // The proof dropped.
    let mut tampered = fresh();
    tampered[at].pob.samples[i].clear();
    reseal(dir.path(), seed, &mut tampered, at);
    let checks = validity::check_run(&log, &workload, &pob, &outcome);
    assert_eq!(failed(&checks), ["samples_proven"], "{checks:#?}");
    assert!(detail(&checks, "samples_proven").contains("no sample proof by sampler"));

    // The proof credited to another normal validator (valid for nobody it names).
    let mut tampered = fresh();
    let sampler = &mut tampered[at].pob.samples[i][0].sampler;
    sampler.0 = (sampler.0 + 1) % VALIDATORS as u32;
    reseal(dir.path(), seed, &mut tampered, at);
    let checks = validity::check_run(&log, &workload, &pob, &outcome);
    assert_eq!(failed(&checks), ["samples_proven"], "{checks:#?}");

    write_log(dir.path(), 0, &original);
    let checks = validity::check_run(&log, &workload, &pob, &outcome);
    assert!(failed(&checks).is_empty(), "{checks:#?}");
}

#[test]
fn a_selected_transaction_with_a_bad_signature_must_have_been_excluded() {
    let dir = tempfile::tempdir().unwrap();
    let (workload, pob, outcome) = engine_run(
        dir.path(),
        &["--byzantine", "bad-signature", "--samplers", "all"],
    );
    let log = dir.path().join("blocks");
    let seed = workload.spec.seed;
    let checks = validity::check_run(&log, &workload, &pob, &outcome);
    assert!(failed(&checks).is_empty(), "{checks:#?}");
    let proven = detail(&checks, "samples_proven");
    assert!(
        !proven.ends_with(" 0 selected ones were excluded"),
        "{proven}"
    );

    // A forged transaction that a published sample selects (so its sampler verified it
    // and it was excluded), finalized instead: put in the log at its place, its id
    // taken off the excluded lists.
    let vrf: Vec<_> = Validators::genesis(seed, ShardId(0), VALIDATORS, 1)
        .vrf_keys
        .iter()
        .map(|k| k.public())
        .collect();
    let mut tampered = records(dir.path(), 0);
    let (at, e) = (tampered.iter().enumerate())
        .find_map(|(at, r)| {
            let e = r.annex.excluded.iter().position(|e| {
                // The finalized block it sits in, as a reference (not an own batch).
                let own_before = r.annex.direct.iter().filter(|(b, _)| *b < e.block).count();
                let own = r.annex.direct.iter().any(|(b, _)| *b == e.block);
                let i = e.block as usize - own_before;
                !own && r.pob.samples[i].iter().any(|s| {
                    let block = r.pob.refs[i].header.hash();
                    Sample::verify(&vrf[s.sampler.0 as usize], &block, &s.proof)
                        .unwrap()
                        .selects(&e.tx.id().0, pob.p)
                })
            })?;
            Some((at, e))
        })
        .expect("a sampler caught a forged transaction in shard 0");
    let record = &mut tampered[at];
    let forged = record.annex.excluded.remove(e);
    // Its place among the logged transactions: every position before it in the
    // record's finalized blocks that is not excluded.
    let lens: Vec<u32> = {
        let mut refs = record.pob.refs.iter();
        (0..(record.pob.refs.len() + record.annex.direct.len()) as u32)
            .map(
                |k| match record.annex.direct.iter().find(|(b, _)| *b == k) {
                    Some((_, len)) => *len,
                    None => refs.next().unwrap().header.tx_count,
                },
            )
            .collect()
    };
    let before: u32 = lens[..forged.block as usize].iter().sum::<u32>() + forged.position;
    let excluded_before = (record.annex.excluded.iter())
        .filter(|x| (x.block, x.position) < (forged.block, forged.position))
        .count() as u32;
    let id = forged.tx.id();
    record
        .txs
        .insert((before - excluded_before) as usize, forged.tx);
    let listed = (tampered.iter())
        .position(|r| r.pob.excluded.contains(&id))
        .expect("its id is excluded by a certified body");
    tampered[listed].pob.excluded.retain(|x| *x != id);
    reseal(dir.path(), seed, &mut tampered, listed.min(at));
    let checks = validity::check_run(&log, &workload, &pob, &outcome);
    let failed = failed(&checks);
    assert!(failed.contains(&"samples_proven"), "{checks:#?}");
    assert!(
        detail(&checks, "samples_proven").contains("logged with a bad signature"),
        "{checks:#?}"
    );
    // The rebuilt OptBlock root still matches: only the sample check sees the lie.
    assert!(!failed.contains(&"optblock_roots_rebuilt"), "{checks:#?}");
}

#[test]
fn a_shed_transaction_that_depends_on_none_or_reached_the_log_is_caught() {
    use ioschain_harness::engine::clients::Shed;
    let dir = tempfile::tempdir().unwrap();
    let (workload, pob, mut outcome) = engine_run(dir.path(), &["--intake-max", "60"]);
    let log = dir.path().join("blocks");
    let checks = validity::check_run(&log, &workload, &pob, &outcome);
    assert!(failed(&checks).is_empty(), "{checks:#?}");
    assert!(
        outcome.shards.iter().any(|s| !s.clients.shed.is_empty()),
        "the intake of 60 shed nothing"
    );

    // A final transaction claimed as given up for a shed one it does not depend on: it
    // is in the log, and nothing it spends was shed.
    let shed: std::collections::HashSet<u32> =
        outcome.shards[0].clients.shed.iter().map(|s| s.0).collect();
    let rejected: std::collections::HashSet<u32> = outcome.shards[0]
        .clients
        .rejections
        .iter()
        .map(|r| r.0)
        .collect();
    let final_one = (0..outcome.driver.released[0] as u32)
        .find(|i| !shed.contains(i) && !rejected.contains(i))
        .expect("a final transaction");
    outcome.shards[0]
        .clients
        .shed
        .push((final_one, Shed::Cascaded));
    let checks = validity::check_run(&log, &workload, &pob, &outcome);
    let failures = failed(&checks);
    assert!(failures.contains(&"shed_justified"), "{checks:#?}");
    assert!(failures.contains(&"outcomes_as_expected"), "{checks:#?}");
}

/// Cross-shard transactions whose chunks arrive during the run: a client's waits on
/// another shard's transactions are registered as chunks come (and answered at once
/// when the source is already done), receipts may come before their chunk, and the
/// run stays valid with every released chunk dropped (`engine_run` checks the window).
#[test]
fn a_cross_shard_run_streamed_in_small_chunks_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let base = [common::CROSS_MIX, common::tiny_run_any_mix()].concat();
    let (workload, pob, outcome) = engine_run_on(dir.path(), &base, &[]);
    assert!(outcome.drained);
    let checks = validity::check_run(&dir.path().join("blocks"), &workload, &pob, &outcome);
    assert!(failed(&checks).is_empty(), "{checks:#?}");
    let committed: u64 = outcome
        .shards
        .iter()
        .map(|s| s.atomix_counters().committed)
        .sum();
    let released: u64 = outcome.driver.released.iter().sum();
    assert!(
        committed > 50 && released > 2 * 512,
        "{committed} committed of {released} released: too few to stream"
    );
}
