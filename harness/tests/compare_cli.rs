//! `ioschain compare` end to end: the binary against summaries written in the test.
//! Exit 0 for a run compared with itself, 1 for a 25% throughput cut, 2 for bad input with
//! a message naming the file.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::{Value, json};

fn fixture() -> Value {
    json!({
        "schema": "ioschain.run/1",
        "config": {
            "run": { "cores": 2, "duration_s": 20.0, "inflight": null, "rate": 100000.0, "shards": 2 },
            "workload": { "accounts": 100000, "invalid_fraction": 0.0, "sender": "uniform" }
        },
        "machine": { "cpu": "AMD EPYC", "cores": 2, "profile": "release" },
        "offered_tps": 100000.0,
        "tps": { "final": 100001.3, "provisional": 100001.3, "intra_shard": 100001.3, "cross_shard": 0.0 },
        "latency_us": {
            "provisional": { "p50": 36575, "p90": 59839, "p99": 70207, "p999": 120959, "max": 143359, "count": 2000026 },
            "final": { "p50": 46879, "p90": 70399, "p99": 89087, "p999": 165631, "max": 192511, "count": 2000026 },
            "cross_shard": null
        },
        "efficiency": 0.594,
        "validity": { "valid": true, "checks": [] }
    })
}

fn write_run(dir: &Path, name: &str, v: &Value) -> PathBuf {
    let run = dir.join(name);
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(run.join("summary.json"), v.to_string()).unwrap();
    run
}

fn ioschain(args: &[&Path]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ioschain"));
    cmd.arg("compare");
    let mut flag = None;
    for a in args {
        match a.to_str() {
            Some(f @ ("--base" | "--new" | "--bands")) => flag = Some(f.to_owned()),
            _ => {
                cmd.arg(flag.take().expect("a flag before each path"));
                cmd.arg(a);
            }
        }
    }
    cmd.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn run_compared_with_itself_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let run = write_run(dir.path(), "base", &fixture());
    let out = ioschain(&[Path::new("--base"), &run, Path::new("--new"), &run]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("tps.final"), "{stdout}");
    assert!(stdout.contains("verdict: PASS (exit 0)"), "{stdout}");
}

#[test]
fn throughput_cut_by_25_percent_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let base = write_run(dir.path(), "base", &fixture());
    let mut slow = fixture();
    slow["tps"]["final"] = json!(100001.3 * 0.75);
    let new = write_run(dir.path(), "new", &slow);
    // A summary.json file works as well as its directory.
    let new_file = new.join("summary.json");
    let out = ioschain(&[Path::new("--base"), &base, Path::new("--new"), &new_file]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("0.750×"), "{stdout}");
    assert!(stdout.contains("verdict: FAIL (exit 1)"), "{stdout}");
}

#[test]
fn repeated_runs_are_accepted_on_both_sides() {
    let dir = tempfile::tempdir().unwrap();
    let a = write_run(dir.path(), "a", &fixture());
    let b = write_run(dir.path(), "b", &fixture());
    let out = ioschain(&[
        Path::new("--base"),
        &a,
        Path::new("--base"),
        &b,
        Path::new("--new"),
        &b,
        Path::new("--new"),
        &a,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("median of 2 runs"));
}

#[test]
fn bad_input_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let run = write_run(dir.path(), "run", &fixture());
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = ioschain(&[Path::new("--base"), &run, Path::new("--new"), &empty]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&empty.display().to_string()), "{stderr}");
    assert!(stderr.contains("no summary.json"), "{stderr}");

    let bands = dir.path().join("bands.toml");
    std::fs::write(&bands, "[throughput]\nfail_bellow = 0.7\n").unwrap();
    let out = ioschain(&[
        Path::new("--base"),
        &run,
        Path::new("--new"),
        &run,
        Path::new("--bands"),
        &bands,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&bands.display().to_string()), "{stderr}");
    assert!(stderr.contains("fail_bellow"), "{stderr}");
}
