//! Helpers shared by the harness's integration tests.

#![allow(dead_code)] // each test crate uses its own subset

use std::path::Path;

use clap::Parser;
use ioschain_harness::cli::{Cli, Command, RunArgs};
use ioschain_harness::run::{self, Exit};

/// Flags that make a run tiny enough for a test (a few thousand transactions, a small
/// roster of 7 with 2 believable validators, no ceiling measurement, intra-shard
/// transactions only: `tests/atomix.rs` adds cross-shard ones).
pub const TINY_RUN: &[&str] = &[
    "--cross-shard",
    "0",
    "--accounts",
    "400",
    "--no-limits",
    "--validators-per-shard",
    "7",
    "--believable",
    "2",
    "--warmup",
    "0.5",
    "--duration",
    "1",
];

/// Parses `ioschain <subcommand> <args…>`.
pub fn parse(subcommand: &str, args: &[&str]) -> Command {
    let mut argv = vec!["ioschain", subcommand];
    argv.extend_from_slice(args);
    Cli::parse_from(argv).command
}

/// Parses `ioschain run <args…>`.
pub fn run_args(args: &[&str]) -> RunArgs {
    let Command::Run(args) = parse("run", args) else {
        unreachable!("parsed as `run`")
    };
    *args
}

/// The validity check `name` of a run's summary.
pub fn check<'a>(s: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    s["validity"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check"))
}

/// The canaries a run released, from its `canaries` check (which must have passed: each
/// was rejected for its reason).
pub fn canaries(s: &serde_json::Value) -> u64 {
    let check = check(s, "canaries");
    assert_eq!(check["ok"], true, "{check}");
    check["detail"]
        .as_str()
        .and_then(|d| d.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no canary count in {check}"))
}

/// The `summary.json` of a run's output directory.
pub fn summary(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

/// A cross-shard mix small runs can sustain (outputs of 2,000 accounts mature after 300
/// positions), for the flags of [`tiny_run_any_mix`].
pub const CROSS_MIX: &[&str] = &[
    "--cross-shard",
    "0.25",
    "--cross-maturity",
    "300",
    "--accounts",
    "2000",
];

/// [`TINY_RUN`] without its first four flags (`--cross-shard 0 --accounts 400`), for
/// runs that set their own cross-shard mix and accounts.
pub fn tiny_run_any_mix() -> &'static [&'static str] {
    &TINY_RUN[4..]
}

/// A tiny two-shard run at 3,000 tx/s under `dir` with `extra` flags; its exit and
/// summary.
pub fn small_run(dir: &Path, extra: &[&str]) -> (Exit, serde_json::Value) {
    small_run_with(dir, "2", TINY_RUN, extra)
}

/// [`small_run`] with `shards` shards and `tiny` in place of [`TINY_RUN`].
pub fn small_run_with(
    dir: &Path,
    shards: &str,
    tiny: &[&str],
    extra: &[&str],
) -> (Exit, serde_json::Value) {
    small_run_at(dir, shards, "3000", tiny, extra)
}

/// [`small_run_with`] at `rate` tx/s.
pub fn small_run_at(
    dir: &Path,
    shards: &str,
    rate: &str,
    tiny: &[&str],
    extra: &[&str],
) -> (Exit, serde_json::Value) {
    let (out, cache) = (dir.join("out"), dir.join("cache"));
    let mut args = vec!["--cores", "2"];
    args.extend(small_flags(shards, rate, &out, &cache));
    args.extend_from_slice(tiny);
    args.extend_from_slice(extra);
    let exit = run::run(&run_args(&args)).unwrap();
    (exit, summary(&out))
}

/// The flags a small run and a small simulation share: shards, rate, 20 ms blocks,
/// output and cache directories.
fn small_flags<'a>(
    shards: &'a str,
    rate: &'a str,
    out: &'a Path,
    cache: &'a Path,
) -> [&'a str; 10] {
    [
        "--shards",
        shards,
        "--rate",
        rate,
        "--block-interval-ms",
        "20",
        "--out",
        out.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
    ]
}

/// The scenario of [`small_run_at`] on the seeded simulator (`ioschain sim`) in place of
/// the engine: the same shards and clients on logical time, so timeouts fire when the
/// protocol says and not when a loaded test machine is slow. It releases as many
/// transactions as the engine run would in its warm-up and measured seconds; its exit
/// (`Valid` when everything finished and the oracle passed) and summary.
pub fn small_sim_at(
    dir: &Path,
    shards: &str,
    rate: &str,
    tiny: &[&str],
    extra: &[&str],
) -> (Exit, serde_json::Value) {
    let out = dir.join("out");
    let cache = dir.join("cache");
    let seconds = 1.5; // TINY_RUN's --warmup 0.5 and --duration 1
    let txs = ((rate.parse::<f64>().expect("a rate") * seconds) as u64).to_string();
    let mut argv = vec!["--txs", &txs];
    argv.extend(small_flags(shards, rate, &out, &cache));
    argv.extend_from_slice(tiny);
    argv.extend_from_slice(extra);
    sim(&argv)
}

/// `ioschain sim <args…>` (which must include `--out`): its exit (`Valid` when every
/// transaction finished and the oracle passed) and summary.
pub fn sim(args: &[&str]) -> (Exit, serde_json::Value) {
    let Command::Sim(args) = parse("sim", args) else {
        unreachable!("parsed as `sim`")
    };
    let outcome = ioschain_harness::sim::simulate_args(&args)
        .unwrap()
        .expect("valid flags");
    let exit = if outcome.valid() {
        Exit::Valid
    } else {
        Exit::Invalid
    };
    (exit, summary(&outcome.out))
}

/// [`small_run`] on the seeded simulator ([`small_sim_at`]).
pub fn small_sim(dir: &Path, extra: &[&str]) -> (Exit, serde_json::Value) {
    small_sim_at(dir, "2", "3000", TINY_RUN, extra)
}
