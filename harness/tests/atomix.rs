//! Atomix scenarios on small runs (PROTOCOL.md §5): cross-shard transactions commit
//! across two and three shards, abort when an input shard refuses, conflicting pairs
//! never both commit, and misbehaving clients (silent, partial, forging, replaying)
//! neither break atomicity nor lose value. Each run's validity oracle re-reads the block
//! logs and checks A1–A7 from the entries; every run here must be VALID with value
//! conserved, and the counters must show that the scenario really happened.
//!
//! They run on the seeded simulator (`ioschain sim`), on logical time: whether the
//! coordinator acts is decided by the blocks the shards finalize, not by how fast a
//! loaded machine runs them (on the wall clock, a slow debug build let honest clients'
//! transactions time out to the coordinator).

mod common;

use ioschain_harness::run::Exit;
use serde_json::Value;

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// A tiny simulated run with cross-shard transactions: `shards` shards, 2,000 accounts, a quarter
/// of the stream cross-shard, outputs mature after 300 positions, coordinators acting
/// after 10 silent FinalBlocks, then `extra`.
fn cross_run(shards: &str, extra: &[&str]) -> (Exit, Value) {
    cross_run_at(shards, "3000", "300", extra)
}

/// [`cross_run`] at `rate` tx/s with outputs maturing after `maturity` positions.
fn cross_run_at(shards: &str, rate: &str, maturity: &str, extra: &[&str]) -> (Exit, Value) {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![
        "--cross-shard",
        "0.25",
        "--cross-maturity",
        maturity,
        "--accounts",
        "2000",
        "--t-unlock-blocks",
        "10",
    ];
    args.extend_from_slice(extra);
    let (exit, s) =
        common::small_sim_at(dir.path(), shards, rate, common::tiny_run_any_mix(), &args);
    (exit, s)
}

/// The run is valid, the Atomix invariants and value conservation hold by the oracle's
/// own replay, every cross-shard transaction finished, and no outcome differs from the
/// workload's expectation.
fn assert_atomic(exit: Exit, s: &Value) {
    assert_eq!(exit, Exit::Valid, "{:#}", s["validity"]);
    for name in [
        "atomix_invariants",
        "value_conserved",
        "every_tx_accounted",
        "outcomes_as_expected",
    ] {
        let check = s["validity"]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("the oracle runs {name}"));
        assert_eq!(check["ok"], true, "{check}");
    }
    let x = &s["atomix"];
    assert!(u(&x["dispatched"]) > 50, "{x:#}");
    assert_eq!(u(&x["committed"]) + u(&x["aborted"]), u(&x["dispatched"]));
    let rejected: u64 = s["counts"]["rejected"]
        .as_object()
        .unwrap()
        .values()
        .map(u)
        .sum();
    // `counts.final` holds intra-shard finals and cross-shard commits.
    assert_eq!(
        u(&s["counts"]["final"]) + rejected + u(&x["aborted"]),
        u(&s["counts"]["submitted"])
    );
}

#[test]
fn honest_clients_commit_across_two_shards() {
    let (exit, s) = cross_run("2", &[]);
    assert_atomic(exit, &s);
    let x = &s["atomix"];
    assert_eq!(u(&x["aborted"]), 0, "{x:#}");
    assert!(s["latency_us"]["cross_shard"]["p99"].as_u64().unwrap() > 0);
    assert!(s["tps"]["cross_shard"].as_f64().unwrap() > 0.0);
    // Every commit is applied at each involved shard: at least the input shard and the
    // recipient's.
    assert!(
        u(&x["entries"]["commit"]) >= 2 * u(&x["committed"]),
        "{x:#}"
    );
    assert_eq!(
        u(&x["coordinator"]["commit"]),
        0,
        "honest clients finish alone"
    );
}

#[test]
fn commits_span_three_shards() {
    let (exit, s) = cross_run("3", &["--cross-input-shards", "2"]);
    assert_atomic(exit, &s);
    let x = &s["atomix"];
    assert_eq!(u(&x["aborted"]), 0, "{x:#}");
    // Two input shards and a recipient in the third: some commits touch three shards.
    assert!(
        u(&x["entries"]["commit"]) > 2 * u(&x["committed"]),
        "no transaction touched three shards: {x:#}"
    );
}

#[test]
fn a_refusing_input_shard_aborts_the_transaction_everywhere() {
    let (exit, s) = cross_run("2", &["--invalid-fraction", "0.2"]);
    assert_atomic(exit, &s);
    let x = &s["atomix"];
    assert!(u(&x["aborted"]) > 0, "{x:#}");
    assert!(u(&x["entries"]["reject"]) > 0, "{x:#}");
    assert!(u(&x["committed"]) > 0, "{x:#}");
}

#[test]
fn conflicting_pairs_never_both_commit() {
    let (exit, s) = cross_run("2", &["--cross-conflicts", "0.5"]);
    // The oracle checks "at most one of each pair commits" from the logs.
    assert_atomic(exit, &s);
    let x = &s["atomix"];
    assert!(
        u(&x["aborted_by"]["input_locked"]) > 0,
        "the second lock request of a pair finds the input locked: {x:#}"
    );
}

#[test]
fn the_coordinator_finishes_for_clients_that_never_unlock() {
    let (exit, s) = cross_run("2", &["--client-never-unlock", "1"]);
    assert_atomic(exit, &s);
    let x = &s["atomix"];
    assert_eq!(u(&x["committed"]), u(&x["dispatched"]), "{x:#}");
    assert!(u(&x["coordinator"]["commit"]) > 0, "{x:#}");
}

#[test]
fn a_commit_sent_to_one_shard_only_is_completed_by_the_coordinator() {
    let (exit, s) = cross_run("2", &["--client-partial-commit", "1"]);
    assert_atomic(exit, &s);
    let x = &s["atomix"];
    assert_eq!(u(&x["committed"]), u(&x["dispatched"]), "{x:#}");
    assert!(u(&x["coordinator"]["commit"]) > 0, "{x:#}");
}

#[test]
fn a_forged_proof_of_acceptance_is_refused_and_the_transaction_aborts() {
    let (exit, s) = cross_run("2", &["--client-forged-proof", "1"]);
    assert_atomic(exit, &s);
    let x = &s["atomix"];
    assert!(u(&x["forged_sent"]) > 0, "{x:#}");
    assert!(
        u(&x["refused"]["bad_proof"]) >= u(&x["forged_sent"]),
        "every output shard refuses the forged proof: {x:#}"
    );
    assert_eq!(u(&x["committed"]), 0, "{x:#}");
    assert!(u(&x["coordinator"]["abort"]) > 0, "{x:#}");
}

#[test]
fn a_replayed_commit_changes_nothing() {
    let (exit, s) = cross_run("2", &["--client-replay-commit", "1"]);
    assert_atomic(exit, &s);
    let x = &s["atomix"];
    assert!(u(&x["replays_sent"]) > 0, "{x:#}");
    // Each replay reaches every involved shard, which has the transaction committed.
    assert!(u(&x["repeats"]) >= u(&x["replays_sent"]), "{x:#}");
    assert_eq!(u(&x["entries"]["commit"]), u(&x["committed"]) * 2, "{x:#}");
}

#[test]
fn clients_wait_for_their_funds_so_a_backlogged_shard_still_commits_everything() {
    // Outputs are spent 8 positions after they are created, at a rate the tiny engine
    // cannot keep up with: the transactions that create a cross-shard transaction's
    // inputs, or an intra-shard transaction's Atomix payment, are still queued when it
    // is released. Clients hold their transactions until those are done (receipts), so
    // no lock request reaches a shard that has not seen its inputs, and no shard is told
    // which payments are coming: nothing aborts, nothing is rejected for an unknown
    // input, and the oracle finds every outcome as the workload expected.
    let (exit, s) = cross_run_at("2", "30000", "8", &[]);
    assert_atomic(exit, &s);
    let x = &s["atomix"];
    assert_eq!(u(&x["aborted"]), 0, "{x:#}");
    assert!(u(&x["waits"]) > 0, "no client waited for its funds: {x:#}");
    assert_eq!(u(&x["entries"]["reject"]), 0, "a lock was refused: {x:#}");
}
