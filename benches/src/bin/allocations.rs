//! Heap allocations per transaction on the hot paths, counted exactly (dhat's counting
//! allocator): the part of the regression gate's tier a that instruction counts miss.
//! An allocation costs a few dozen instructions, too few for tier a's ±10% on a bench,
//! yet it is what an engine pays per transaction again and again; a count does not
//! depend on the machine or its load.
//!
//! Paths, each set up outside the count:
//! - `tx_validate_apply/txs_64_keys_100k`: what `instructions.rs`' bench of the same name
//!   counts (id, structural checks, `UtxoSet::apply` on a set of 100,000 outputs), for
//!   64 transactions;
//! - `sim/seed7_shards2_txs4000`: the whole engine loop on the seeded simulator
//!   (`ioschain sim --seed 7 --shards 2 --txs 4000`: clients, both leagues, Atomix, the
//!   store and the validity oracle, single-threaded but for the oracle's per-shard
//!   replays), per submitted transaction. The workload is generated (or loaded from
//!   `target/ioschain/workloads`) before the count.
//!
//! Prints one JSON object `{path: allocations per transaction}` on stdout;
//! `scripts/regression.sh --tier a` compares it with `reports/baselines/allocations.json`.
//!
//! Run: `cargo run --release -p ioschain-benches --bin allocations`

use std::collections::BTreeMap;
use std::hint::black_box;

use clap::Parser;
use ioschain_benches::{owner, signing_key, utxo_set};
use ioschain_core::tx::{Transaction, TxOut};
use ioschain_core::types::{Amount, OutPoint};
use ioschain_harness::cli::{Cli, Command};

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Allocations `f` makes (blocks allocated, reallocations counted as fresh blocks).
fn allocations(f: impl FnOnce()) -> u64 {
    let before = dhat::HeapStats::get().total_blocks;
    f();
    dhat::HeapStats::get().total_blocks - before
}

fn validate_apply() -> f64 {
    const TXS: usize = 64;
    let key = signing_key(0);
    let owner = owner(0);
    let (mut set, mut live) = utxo_set(100_000, owner);
    let output = TxOut {
        owner,
        amount: Amount(100),
    };
    let txs: Vec<Transaction> = (0..TXS)
        .map(|_| {
            let inputs: Vec<OutPoint> = live.drain(..2).collect();
            Transaction::signed(inputs, vec![output, output], &[&key])
        })
        .collect();
    let count = allocations(|| {
        for tx in black_box(&txs) {
            let id = tx.id();
            tx.check_structure().expect("well-formed");
            set.apply(tx, id).expect("inputs unspent");
        }
    });
    count as f64 / TXS as f64
}

fn sim() -> f64 {
    const TXS: u64 = 4000;
    let out = std::env::temp_dir().join(format!("ioschain-allocations-{}", std::process::id()));
    let argv = [
        "ioschain",
        "sim",
        "--seed",
        "7",
        "--shards",
        "2",
        "--txs",
        &TXS.to_string(),
        "--out",
        out.to_str().expect("a UTF-8 temporary directory"),
    ];
    let Command::Sim(args) = Cli::parse_from(argv).command else {
        unreachable!("parsed as `sim`")
    };
    let (config, params, _) = ioschain_harness::sim::prepare(&args)
        .expect("the simulation's setup")
        .expect("valid flags");
    let mut valid = false;
    let count = allocations(|| {
        let (trace, _) =
            ioschain_harness::sim::simulate(&params, config.run.seed).expect("simulates");
        valid = trace.checks.iter().all(|c| c.ok);
    });
    let _ = std::fs::remove_dir_all(&out);
    assert!(
        valid,
        "the simulation must be VALID for its count to mean anything"
    );
    count as f64 / TXS as f64
}

fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let counts: BTreeMap<&str, f64> = [
        ("tx_validate_apply/txs_64_keys_100k", validate_apply()),
        ("sim/seed7_shards2_txs4000", sim()),
    ]
    .into_iter()
    .collect();
    println!(
        "{}",
        serde_json::to_string_pretty(&counts).expect("numbers serialize")
    );
}
