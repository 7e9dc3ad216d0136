//! One DRP run with 512 servers in groups of 32 (PROTOCOL.md §2.6's configuration),
//! single-threaded, and its CPU time; then the transcript's verification time.
//!
//! `cargo run --release -p ioschain-core --example drp_512`
//!
//! Measured on the 2-core development machine (AVX2 backend), commit after 570f8bf:
//! run 1.83–1.86 s CPU (target < 2 s), of which dealing (`R1`) ≈ 1.0 s, choosing and
//! `I2` ≈ 0.3 s, decryption (`R3`) ≈ 0.35 s; transcript 1.15 MB, verified in 0.27 s.

use std::time::Instant;

use ioschain_core::codec::Encode;
use ioschain_core::drp::{self, Faults, RunParams, ServerKey};

const SERVERS: usize = 512;
const GROUP_SIZE: usize = 32;

/// CPU time of this process (user + system), from `/proc/self/stat`, in seconds.
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the command name.
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let keys: Vec<ServerKey> = (0..SERVERS)
        .map(|i| {
            let mut seed = [0x51; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            ServerKey::from_seed(&seed)
        })
        .collect();
    let leader = ServerKey::from_seed(&[0xee; 32]);
    let params = RunParams {
        purpose: b"IOS-epoch-1".to_vec(),
        time: 1,
        group_size: GROUP_SIZE,
    };

    let (wall, cpu) = (Instant::now(), cpu_s());
    let run = drp::run_local(&keys, &leader, &params, &[7; 32], &Faults::default())
        .expect("an honest run finishes");
    let (run_wall_s, run_cpu_s) = (wall.elapsed().as_secs_f64(), cpu_s() - cpu);

    let (wall, cpu) = (Instant::now(), cpu_s());
    let verified = run.transcript.verify();
    let (verify_wall_s, verify_cpu_s) = (wall.elapsed().as_secs_f64(), cpu_s() - cpu);

    println!("drp_512");
    println!("servers              {SERVERS}");
    println!("group_size           {GROUP_SIZE}");
    println!("chosen_secrets       {}", run.transcript.i3.chosen.len());
    println!("run_cpu_s            {run_cpu_s:.2}");
    println!("run_wall_s           {run_wall_s:.3}");
    println!("verify_cpu_s         {verify_cpu_s:.2}");
    println!("verify_wall_s        {verify_wall_s:.3}");
    println!("transcript_bytes     {}", run.transcript.to_bytes().len());
    println!("rnd                  {}", run.rnd);
    println!("transcript_valid     {}", verified == Ok(run.rnd));
    assert_eq!(
        verified,
        Ok(run.rnd),
        "the transcript verifies to the run's rnd"
    );
}
