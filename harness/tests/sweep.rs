//! `ioschain sweep`: a tiny grid writes its tables and exits valid; bad input exits 2.

mod common;

use std::process::Command as Process;

use ioschain_harness::cli::Command;
use ioschain_harness::run::Exit;
use ioschain_harness::sweep;

fn sweep_args(args: &[&str]) -> ioschain_harness::cli::SweepArgs {
    let Command::Sweep(args) = common::parse("sweep", args) else {
        unreachable!("parsed as `sweep`")
    };
    *args
}

#[test]
fn tiny_grid_writes_csv_and_markdown() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let cache = dir.path().join("cache");
    let mut flags = vec![
        "--shards",
        "1,2",
        "--rates",
        "2000,4000",
        "--repeat",
        "1",
        "--cache-dir",
        cache.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    flags.extend_from_slice(common::TINY_RUN);
    let args = sweep_args(&flags);
    assert_eq!(sweep::sweep(&args).unwrap(), Exit::Valid);
    let csv = std::fs::read_to_string(out.join(sweep::SWEEP_CSV)).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(sweep::CSV_HEADER));
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 4, "{csv}");
    assert!(rows.iter().all(|r| r.ends_with(",true")), "{csv}");
    assert!(
        rows[0].starts_with("1,") && rows[3].starts_with("2,"),
        "{csv}"
    );
    let md = std::fs::read_to_string(out.join(sweep::SWEEP_MD)).unwrap();
    assert!(md.to_lowercase().contains("max sustainable"), "{md}");
    for run in [
        "shards1-rate2000-rep1",
        "shards1-rate4000-rep1",
        "shards2-rate2000-rep1",
        "shards2-rate4000-rep1",
    ] {
        assert!(out.join(run).join("summary.json").is_file(), "{run}");
    }
}

fn exit_code(args: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let output = Process::new(env!("CARGO_BIN_EXE_ioschain"))
        .arg("sweep")
        .args(args)
        .args(["--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bad_input_exits_2() {
    let (code, stderr) = exit_code(&["--shards", "1", "--rates", "50k"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--rates: '50k' is not a number"),
        "{stderr}"
    );
    for bad in [
        &["--shards", "", "--rates", "1000"][..],
        &["--shards", "0", "--rates", "1000"],
        &["--shards", "1", "--rates", "1000", "--repeat", "0"],
        &["--shards", "1", "--rates", "1000", "--slo-ms", "0"],
        &["--shards", "1", "--rates", "1000", "--rate", "5000"],
    ] {
        let (code, stderr) = exit_code(bad);
        assert_eq!(code, 2, "{bad:?}: {stderr}");
    }
}
