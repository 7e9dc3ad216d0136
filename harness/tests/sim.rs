//! `ioschain sim`: the shards and clients on one thread with a seeded scheduler. The same
//! seed gives the same digest of every effect and a VALID verdict; another seed gives
//! another digest; a run the oracle fails exits 1.

use clap::Parser;
use ioschain_harness::cli::{Cli, Command, SimArgs};
use ioschain_harness::run::Exit;
use ioschain_harness::sim::{self, SimOutcome};

fn sim_args(dir: &std::path::Path, seed: &str, extra: &[&str]) -> SimArgs {
    let out = dir.join("out");
    let cache = dir.join("cache");
    let mut argv = vec![
        "ioschain",
        "sim",
        "--seed",
        seed,
        "--shards",
        "2",
        "--txs",
        "3000",
        "--rate",
        "20000",
        "--cross-shard",
        "0.2",
        "--cross-maturity",
        "50",
        "--accounts",
        "1000",
        "--validators-per-shard",
        "7",
        "--believable",
        "2",
        "--out",
        out.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
    ];
    argv.extend_from_slice(extra);
    let Command::Sim(args) = Cli::parse_from(argv).command else {
        unreachable!("parsed as `sim`")
    };
    *args
}

fn simulate(seed: &str, extra: &[&str]) -> SimOutcome {
    let dir = tempfile::tempdir().unwrap();
    sim::simulate_args(&sim_args(dir.path(), seed, extra))
        .unwrap()
        .expect("valid flags")
}

#[test]
fn the_same_seed_gives_the_same_digest_and_another_seed_another() {
    let first = simulate("7", &[]);
    assert!(first.valid(), "{:#?}", first.trace.checks);
    assert!(
        first.trace.effects.iter().all(|&n| n > 0),
        "{:?}",
        first.trace.effects
    );
    assert_eq!(first.trace.released, 3000);
    // Nothing takes time on logical time: no role is metered, nothing projected.
    assert!(first.summary.roles.is_empty() && first.summary.projected.is_none());
    let again = simulate("7", &[]);
    assert_eq!(first.trace.digest, again.trace.digest);
    assert_eq!(first.trace.effects, again.trace.effects);
    let other = simulate("8", &[]);
    assert!(other.valid(), "{:#?}", other.trace.checks);
    assert_ne!(first.trace.digest, other.trace.digest);
}

#[test]
fn byzantine_validators_and_misbehaving_clients_replay_identically() {
    let extra = [
        "--byzantine",
        "equivocate",
        "--byzantine-q",
        "0.5",
        "--client-never-unlock",
        "0.2",
        "--cross-conflicts",
        "0.1",
    ];
    let first = simulate("11", &extra);
    assert!(first.valid(), "{:#?}", first.trace.checks);
    assert_eq!(simulate("11", &extra).trace.digest, first.trace.digest);
}

#[test]
fn a_preset_sets_the_rate_and_txs_sets_the_length() {
    // The flags' --rate 20000 overrides the preset's.
    let first = simulate("7", &["--preset", "intra-only"]);
    assert_eq!((first.rate, first.trace.released), (20_000.0, 3000));
    // Without --rate, the preset's (200,000 tx/s) applies.
    let dir = tempfile::tempdir().unwrap();
    let mut args = sim_args(dir.path(), "7", &["--preset", "intra-only"]);
    args.run.rate = None;
    let outcome = sim::simulate_args(&args).unwrap().expect("valid flags");
    assert_eq!((outcome.rate, outcome.trace.released), (200_000.0, 3000));
    assert!(outcome.valid(), "{:#?}", outcome.trace.checks);
}

#[test]
fn bad_flags_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut args = sim_args(dir.path(), "7", &[]);
    args.txs = 0;
    assert!(sim::simulate_args(&args).unwrap().is_none());
    let mut args = sim_args(dir.path(), "7", &[]);
    args.run.rate = Some(-5.0);
    assert_eq!(sim::sim(&args).unwrap(), Exit::BadInput);
    assert!(!dir.path().join("out").exists(), "nothing ran");
}

#[test]
fn a_crashed_validator_reorders_transactions_but_every_coin_is_spent_in_client_order() {
    // Crashes re-route transactions behind later ones; with injected invalid attempts,
    // planted double spends and cross-shard transactions taking coins that invalid
    // attempts named, only clients that send a coin's spends in order (and wait for
    // their funds) keep every outcome as the answer key says.
    let extra = [
        "--byzantine",
        "crash",
        "--byzantine-q",
        "0.3",
        "--invalid-fraction",
        "0.05",
    ];
    let outcome = simulate("3", &extra);
    assert!(outcome.valid(), "{:#?}", outcome.trace.checks);
}
