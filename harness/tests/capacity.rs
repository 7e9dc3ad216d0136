//! `ioschain capacity`: a tiny search finds a rate (or none) and writes capacity.json; bad
//! flags exit 2.

mod common;

use std::path::Path;
use std::process::Command as Process;

use ioschain_harness::capacity;
use ioschain_harness::cli::Command;
use ioschain_harness::run::Exit;

fn capacity_args(args: &[&str]) -> ioschain_harness::cli::CapacityArgs {
    let Command::Capacity(args) = common::parse("capacity", args) else {
        unreachable!("parsed as `capacity`")
    };
    *args
}

/// A tiny two-shard search from 1,000 tx/s (at most 2,000, at least 500) with `extra`
/// flags into `out`: its exit and capacity.json.
fn tiny_search(dir: &Path, out: &str, extra: &[&str]) -> (Exit, serde_json::Value) {
    let out = dir.join(out);
    let cache = dir.join("cache");
    let mut flags = vec![
        "--shards",
        "2",
        "--start-rate",
        "1000",
        "--min-rate",
        "500",
        "--max-rate",
        "2000",
        "--precision",
        "0.5",
        "--probe-warmup",
        "0.5",
        "--probe-duration",
        "1",
        "--block-interval-ms",
        "20",
        "--cache-dir",
        cache.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    // TINY_RUN without its --warmup and --duration (the probe flags set them).
    let tiny = common::TINY_RUN;
    assert_eq!(tiny[tiny.len() - 4], "--warmup");
    flags.extend_from_slice(&tiny[..tiny.len() - 4]);
    flags.extend_from_slice(extra);
    let exit = capacity::capacity(&capacity_args(&flags)).unwrap();
    let record = std::fs::read_to_string(out.join(capacity::CAPACITY_JSON)).unwrap();
    (exit, serde_json::from_str(&record).unwrap())
}

#[test]
fn tiny_searches_find_the_max_rate_or_none() {
    let dir = tempfile::tempdir().unwrap();
    // A lax SLO: 1,000 and 2,000 tx/s both pass, so the search ends at --max-rate.
    let (exit, record) = tiny_search(dir.path(), "lax", &["--slo-ms", "60000"]);
    assert_eq!(exit, Exit::Valid, "{record:#}");
    assert_eq!(record["schema"], capacity::SCHEMA);
    assert_eq!(record["result"]["status"], "at_max_rate", "{record:#}");
    assert_eq!(record["result"]["rate"], 2000, "{record:#}");
    let probes = record["probes"].as_array().unwrap();
    assert_eq!(probes.len(), 2, "{record:#}");
    for (probe, rate) in probes.iter().zip([1000, 2000]) {
        assert_eq!(probe["rate"], rate);
        assert_eq!(probe["pass"], true, "{probe:#}");
        assert_eq!(probe["valid"], true, "{probe:#}");
        let dir = Path::new(probe["dir"].as_str().unwrap());
        assert!(
            dir.ends_with(format!("probe-{}-rate{rate}", probe["k"])),
            "{dir:?}"
        );
        assert!(dir.join("summary.json").is_file());
    }
    assert!(record["machine"]["cpu"].is_string());
    // The curve: the probes as sweep points, and the sweep report of them.
    let out = Path::new(probes[0]["dir"].as_str().unwrap())
        .parent()
        .unwrap();
    let csv = std::fs::read_to_string(out.join("sweep.csv")).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(out.join("report/report.html").is_file());
    // An SLO of 1 µs: every probe fails on p99, down to --min-rate: exit 1, no rate.
    let (exit, record) = tiny_search(dir.path(), "strict", &["--slo-ms", "0.001"]);
    assert_eq!(exit, Exit::Invalid, "{record:#}");
    assert_eq!(record["result"]["status"], "none", "{record:#}");
    assert!(record["result"]["rate"].is_null());
    let probes = record["probes"].as_array().unwrap();
    let rates: Vec<u64> = probes.iter().map(|p| p["rate"].as_u64().unwrap()).collect();
    assert_eq!(rates, [1000, 500], "{record:#}");
    assert!(
        probes
            .iter()
            .all(|p| p["why"].as_str().unwrap().contains("final p99")),
        "{record:#}"
    );
}

fn exit_code(args: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("capacity");
    let output = Process::new(env!("CARGO_BIN_EXE_ioschain"))
        .arg("capacity")
        .args(args)
        .args(["--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.exists(), "bad input must stop before the first probe");
    (
        output.status.code().unwrap(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bad_flags_exit_2() {
    for (args, needle) in [
        (&["--slo-ms", "0"][..], "--slo-ms: 0 is not allowed"),
        (&["--precision", "0"], "--precision: 0 is not allowed"),
        (&["--precision", "0.6"], "--precision: 0.6 is not allowed"),
        (
            &["--min-rate", "30000"],
            "--min-rate ≤ --start-rate ≤ --max-rate",
        ),
        (
            &["--max-rate", "10000"],
            "--min-rate ≤ --start-rate ≤ --max-rate",
        ),
        (&["--probe-duration", "0.5"], "--probe-duration: 0.5"),
        (
            &["--rate", "5000"],
            "not allowed with `ioschain capacity`: --rate",
        ),
        (&["--inflight", "100"], "--inflight"),
        (&["--duration", "5"], "--duration (use --probe-duration)"),
        (&["--warmup", "1"], "--warmup (use --probe-warmup)"),
        (&["--print-config"], "--print-config"),
        (&["--shards", "0"], "run.shards"),
        (&["--fsync", "sometimes"], "store.fsync"),
        (&["--start-rate", "20k"], "invalid value"),
    ] {
        let (code, stderr) = exit_code(args);
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}
