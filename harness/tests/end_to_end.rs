//! End-to-end runs of the engine on small workloads: every validity check must pass,
//! injected invalid transactions and the default workload's canaries must be rejected
//! for their reason with nothing else lost, and the validity oracle must catch a
//! tampered block log.

mod common;

use std::sync::Arc;
use std::time::Duration;

use ioschain_core::block::BlockHeader;
use ioschain_harness::config::{Backend, Fsync};
use ioschain_harness::engine::intake::IntakePlan;
use ioschain_harness::engine::stream::StreamSource;
use ioschain_harness::engine::{self, EngineParams};
use ioschain_harness::run::{self, Exit};
use ioschain_harness::validity;
use ioschain_workloads::{ClientMix, SenderDistribution, WorkloadSpec, generate};

#[test]
fn small_engine_run_is_valid_and_finalizes_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (exit, s) = common::small_run(dir.path(), &[]);
    assert_eq!(exit, Exit::Valid, "{s:#}");
    assert_eq!(s["schema"], "ioschain.run/1");
    assert_eq!(s["validity"]["valid"], true);
    let checks = s["validity"]["checks"].as_array().unwrap();
    assert!(
        checks.len() >= 7 && checks.iter().all(|c| c["ok"] == true),
        "{checks:#?}"
    );
    assert_eq!(s["counts"]["submitted"], 4500);
    // The default workload's canaries: one of each kind per shard, each rejected for its
    // reason (the oracle's `canaries` check), everything else final.
    let rejected = &s["counts"]["rejected"];
    for reason in ["bad_signature", "unknown_input", "double_spend"] {
        assert_eq!(rejected[reason], 2, "{rejected}");
    }
    assert_eq!(s["counts"]["final"], 4500 - 6);
    let canaries = checks.iter().find(|c| c["name"] == "canaries").unwrap();
    assert!(
        canaries["detail"]
            .as_str()
            .unwrap()
            .starts_with("6 canaries released"),
        "{canaries}"
    );
    assert!(s["tps"]["final"].as_f64().unwrap() > 0.0);
    assert!(s["latency_us"]["final"]["p99"].as_u64().unwrap() > 0);
    for file in ["summary.json", "timeline.csv", "latency.hlog"] {
        assert!(dir.path().join("out").join(file).exists(), "{file}");
    }
    let timeline = std::fs::read_to_string(dir.path().join("out/timeline.csv")).unwrap();
    assert!(timeline.starts_with("second,phase,offered"));
    // Costs by role: every validator role of an honest two-league shard did work, the
    // shares cover the busy time, and the projection is set by its slowest validator.
    let roles = s["roles"].as_object().unwrap();
    for role in [
        "ordering", "checking", "sampling", "leader", "signing", "clients", "host",
    ] {
        assert!(
            roles[role]["us_per_tx"].as_f64().unwrap() > 0.0,
            "{role}: {roles:?}"
        );
    }
    let shares: f64 = roles.values().map(|c| c["share"].as_f64().unwrap()).sum();
    assert!((shares - 1.0).abs() < 1e-9, "{shares}");
    let p = &s["projected"];
    let us = |key: &str| p[key].as_f64().unwrap();
    let slowest = if us("believable_us_per_tx") > us("leader_us_per_tx") {
        "believable"
    } else {
        "leader"
    };
    assert_eq!(p["slowest"], slowest, "{p}");
    assert!(us("leader_us_per_tx") >= us("normal_us_per_tx"), "{p}");
    assert!(us("node_tps") > 0.0, "{p}");
    assert!((us("federation_tps") - 2.0 * us("node_tps")).abs() < 1e-6 * us("node_tps"));
    // The engine's threads' CPU time (Linux says): the workers ran.
    assert!(
        s["load"]["cpu"]["workers_s"].as_f64().unwrap() > 0.0,
        "{}",
        s["load"]
    );
}

#[test]
fn injected_invalid_transactions_are_rejected_for_their_reason_and_nothing_else_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (exit, s) = common::small_run(dir.path(), &["--invalid-fraction", "0.2"]);
    assert_eq!(exit, Exit::Valid, "{s:#}");
    let rejected = &s["counts"]["rejected"];
    for reason in [
        "bad_signature",
        "unknown_input",
        "double_spend",
        "overspend",
    ] {
        assert!(
            rejected[reason].as_u64().unwrap() > 0,
            "no {reason} in {rejected}"
        );
    }
    let rejected_total: u64 = rejected
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(
        s["counts"]["final"].as_u64().unwrap() + rejected_total,
        4500
    );
    // About a fifth rejected (binomial over 4500 draws).
    assert!((700..1100).contains(&rejected_total), "{rejected_total}");
}

#[test]
fn io_uring_and_every_block_flush_also_give_valid_runs() {
    if !engine::store::io_uring_available() {
        eprintln!("io_uring unavailable here; skipping its run");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (exit, s) = common::small_run(
        dir.path(),
        &["--store-backend", "io_uring", "--fsync", "every"],
    );
    assert_eq!(exit, Exit::Valid, "{s:#}");
    assert_eq!(s["store"]["backend"], "io_uring");
    assert_eq!(s["store"]["flushes"], s["store"]["blocks"]);
}

#[test]
fn closed_loop_run_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let (exit, s) = common::small_run(dir.path(), &["--inflight", "200"]);
    assert_eq!(exit, Exit::Valid, "{s:#}");
    assert_eq!(s["load"]["mode"], "closed");
}

#[test]
fn bad_flags_exit_with_code_2_and_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_ioschain");
    for (flags, key) in [
        (vec!["--shards", "0"], "run.shards"),
        (vec!["--rate", "0"], "run.rate"),
        (vec!["--invalid-fraction", "2"], "workload.invalid_fraction"),
        (
            vec!["--validators-per-shard", "3"],
            "engine.validators_per_shard",
        ),
        (vec!["--fsync", "sometimes"], "store.fsync"),
    ] {
        let output = std::process::Command::new(bin)
            .arg("run")
            .args(&flags)
            .args(["--out", dir.path().to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(2), "{flags:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(key), "{flags:?}: {stderr}");
    }
}

#[test]
fn unknown_config_key_exits_with_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[engine]\nblock_size = 5\n").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ioschain"))
        .args(["run", "--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("block_size"));
}

#[test]
fn print_config_shows_every_default() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ioschain"))
        .args(["run", "--print-config", "--rate", "1234"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    for key in [
        "rate = 1234",
        "validators_per_shard = 72",
        "fsync = \"group\"",
        "shards =",
    ] {
        assert!(text.contains(key), "{key} missing from:\n{text}");
    }
}

#[test]
fn damaged_workload_cache_is_detected_and_regenerated() {
    let dir = tempfile::tempdir().unwrap();
    let (exit, _) = common::small_run(dir.path(), &[]);
    assert_eq!(exit, Exit::Valid);
    let cache = dir.path().join("cache");
    let file = std::fs::read_dir(&cache)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();
    let mut flags = vec![
        "--shards",
        "2",
        "--rate",
        "3000",
        "--cache-dir",
        cache.to_str().unwrap(),
    ];
    flags.extend_from_slice(common::TINY_RUN);
    let args = common::run_args(&flags);
    let config = run::resolve_config(&args).unwrap();
    let err = ioschain_workloads::cache::load(&cache, &config.workload_spec()).unwrap_err();
    assert!(err.to_string().contains("damaged"), "{err}");
    // The run path regenerates it and the new file loads.
    run::workload(&config).unwrap();
    assert!(
        ioschain_workloads::cache::load(&cache, &config.workload_spec())
            .unwrap()
            .is_some()
    );
}

/// The engine reads its streams a chunk at a time during the run (128 positions, 256
/// loaded before the start) and drops each chunk once done; the oracle then finds the
/// run valid, and a tampered block log invalid.
#[test]
fn validity_oracle_catches_a_tampered_block_log() {
    let dir = tempfile::tempdir().unwrap();
    let spec = WorkloadSpec {
        seed: 9,
        shards: 1,
        accounts: 200,
        utxos_per_account: 2,
        genesis_amount: 1_000_000,
        inputs_per_tx: 2,
        outputs_per_tx: 2,
        sender: SenderDistribution::Uniform,
        invalid_fraction: 0.0,
        client_edge_signatures: 0.0,
        canary_rate: 0.0,
        txs_per_shard: 1500,
        cross_shard: 0.0,
        cross_input_shards: 2,
        cross_maturity: 256,
        cross_conflicts: 0.0,
        clients: ClientMix::default(),
    };
    let workload = Arc::new(generate(&spec, &|_| {}).unwrap());
    let params = EngineParams {
        stream: StreamSource::Memory(Arc::clone(&workload)),
        preload_positions: 256,
        load_chunk: 128,
        cores: 1,
        rate: 3000.0,
        profile: None,
        inflight: None,
        warmup_s: 0.0,
        duration_s: 0.5,
        drain_timeout_s: 10.0,
        seed: 9,
        verify_batch_max: 256,
        verify_batch_min: 64,
        verify_wait_us: 2000,
        verify_wait_min_us: 2000,
        block_tx_max: 200,
        block_interval_ms: 20,
        validators_per_shard: 7,
        spent_retention: 4096,
        intake: IntakePlan {
            max: None,
            budget_ns: 250_000_000,
            expected_rate: 1500.0,
            floor: 512,
            give_up_at_ns: 750_000_000,
        },
        channel_capacity: 64,
        idle_sleep: Duration::from_micros(50),
        log_dir: dir.path().join("blocks"),
        backend: Backend::Write,
        fsync: Fsync::Group,
        group_blocks_max: 16,
        pin: false,
        pob: {
            let mut config = ioschain_harness::config::Config::default();
            config.pob.believable = 2;
            config.pob_params().unwrap()
        },
        t_unlock_blocks: 10,
    };
    let outcome = engine::run(&params, |_| {}).unwrap();
    let checks = validity::check_run(&params.log_dir, &workload, &params.pob, &outcome);
    assert!(checks.iter().all(|c| c.ok), "{checks:#?}");
    // Everything released was done: the window dropped every chunk it could (it keeps
    // at most the unreleased rest of the stream, loaded ahead).
    let window = &outcome.shards[0].clients.window;
    let released = outcome.driver.released[0] as u32;
    assert!(
        window.start() >= released - released % 128 && released > 1000,
        "window {}..{} after {released} released",
        window.start(),
        window.end()
    );
    // Flip one byte inside the first record's transactions (its checksum is recomputed
    // so only the certificate and Merkle checks can notice).
    let path = ioschain_harness::blocklog::shard_path(&params.log_dir, 0);
    let mut bytes = std::fs::read(&path).unwrap();
    let payload_len = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
    bytes[8 + BlockHeader::ENCODED_LEN + 4 + 40] ^= 1;
    let checksum = blake3::hash(&bytes[8..8 + payload_len]);
    bytes[8 + payload_len..8 + payload_len + 32].copy_from_slice(checksum.as_bytes());
    std::fs::write(&path, &bytes).unwrap();
    let checks = validity::check_run(&params.log_dir, &workload, &params.pob, &outcome);
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.name.as_str())
        .collect();
    assert!(
        failed.contains(&"blocks_certified_and_linked"),
        "{failed:?}"
    );
}
