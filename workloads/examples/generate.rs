//! Generates a workload into a cache directory and reports the generation rate, the
//! disk bytes per transaction and the peak resident memory: the figures the `cache`
//! module's doc states.
//!
//! ```text
//! cargo run --release -p ioschain-workloads --example generate -- \
//!     --shards 2 --txs-per-shard 500000 --dir /tmp/ioschain-wl [--seed 1] [--in-memory]
//! ```
//!
//! The mix is the harness's default workload (`harness/src/config.rs`,
//! `WorkloadSection::default`). `--in-memory` generates the whole workload with
//! `generate` and then `store`s it, for comparison. An existing file for the spec is
//! removed first (a `.part` file is kept: the generation resumes it).

use std::path::PathBuf;
use std::time::Instant;

use ioschain_workloads::cache;
use ioschain_workloads::{ClientMix, SenderDistribution, WorkloadSpec, generate};

fn main() {
    let mut shards = 2u32;
    let mut txs_per_shard = 500_000u64;
    let mut seed = 1u64;
    let mut dir = PathBuf::from("target/ioschain/workloads-example");
    let mut in_memory = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| panic!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--shards" => shards = value().parse().expect("--shards N"),
            "--txs-per-shard" => txs_per_shard = value().parse().expect("--txs-per-shard N"),
            "--seed" => seed = value().parse().expect("--seed N"),
            "--dir" => dir = PathBuf::from(value()),
            "--in-memory" => in_memory = true,
            other => panic!("unknown flag {other}"),
        }
    }
    let spec = WorkloadSpec {
        seed,
        shards,
        accounts: 100_000,
        utxos_per_account: 4,
        genesis_amount: 1_000_000,
        inputs_per_tx: 2,
        outputs_per_tx: 2,
        sender: SenderDistribution::Uniform,
        invalid_fraction: 0.0,
        client_edge_signatures: 0.0,
        canary_rate: 1e-5,
        txs_per_shard,
        cross_shard: 0.1,
        cross_input_shards: 2,
        cross_maturity: 20_000,
        cross_conflicts: 0.0,
        clients: ClientMix::default(),
    };
    let path = cache::path_for(&dir, &spec);
    let _ = std::fs::remove_file(&path);
    let txs = txs_per_shard * u64::from(shards);
    let started = Instant::now();
    let resumed = if in_memory {
        let workload = generate(&spec, &|_| {}).expect("a valid spec");
        cache::store(&dir, &workload).expect("stored");
        0
    } else {
        cache::generate_to_cache(&dir, &spec, &|_| {})
            .expect("generated")
            .resumed_txs
    };
    let elapsed = started.elapsed().as_secs_f64();
    let bytes = std::fs::metadata(&path).expect("the file").len();
    let signed = txs - resumed;
    println!(
        "{} · {shards} shards × {txs_per_shard} = {txs} transactions ({resumed} resumed) · {elapsed:.1} s · {:.0} tx/s · {bytes} bytes = {:.1} bytes/tx · peak resident {} · {}",
        if in_memory {
            "generate + store"
        } else {
            "generate_to_cache"
        },
        signed as f64 / elapsed,
        bytes as f64 / txs as f64,
        peak_resident().unwrap_or_else(|| "unknown".into()),
        path.display()
    );
}

/// `VmHWM` from `/proc/self/status` (Linux).
fn peak_resident() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(line["VmHWM:".len()..].trim().to_string())
}
