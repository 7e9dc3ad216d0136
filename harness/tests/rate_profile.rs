//! `--rate-profile`: the driver offers what the profile says, second by second, and the
//! run stays VALID; bad profiles exit 2.

mod common;

use ioschain_harness::run::{self, Exit};

/// The `offered` column of the run's timeline, by second.
fn offered_per_second(dir: &std::path::Path) -> Vec<u64> {
    let text = std::fs::read_to_string(dir.join("out/timeline.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let column = header.iter().position(|c| *c == "offered").unwrap();
    lines
        .map(|l| l.split(',').nth(column).unwrap().parse().unwrap())
        .collect()
}

#[test]
fn a_step_profile_is_offered_second_by_second() {
    let dir = tempfile::tempdir().unwrap();
    // TINY_RUN without its --warmup and --duration: 1 s of warm-up, 3 s measured.
    let tiny = &common::TINY_RUN[..common::TINY_RUN.len() - 4];
    let (exit, summary) = common::small_run_with(
        dir.path(),
        "2",
        tiny,
        &[
            "--warmup",
            "1",
            "--duration",
            "3",
            "--rate-profile",
            "step:0:1000,2:3000",
        ],
    );
    assert_eq!(exit, Exit::Valid, "{:#}", summary["validity"]);
    let offered = offered_per_second(dir.path());
    // Seconds 0 and 1 at 1,000 tx/s, seconds 2 and 3 at 3,000 (a tick's rounding apart).
    for (second, want) in [(0, 1000), (1, 1000), (2, 3000), (3, 3000)] {
        let got = offered[second] as i64;
        assert!(
            (got - want).abs() <= 10,
            "second {second}: {got} offered, {offered:?}"
        );
    }
    // The summary's offered rate is the profile's mean over the measured window.
    let mean = summary["offered_tps"].as_f64().unwrap();
    assert!((mean - 7000.0 / 3.0).abs() < 1.0, "{mean}");
    assert_eq!(
        summary["config"]["run"]["rate_profile"],
        "step:0:1000,2:3000"
    );
    // Everything offered was released and finalized.
    assert_eq!(summary["counts"]["submitted"], 1000 + 1000 + 3000 + 3000);
}

#[test]
fn bad_profiles_exit_2() {
    for profile in ["1:1000", "0:1000,0:2000", "0:fast", "0:0"] {
        let args = common::run_args(&["--rate-profile", profile, "--no-limits"]);
        assert_eq!(run::run(&args).unwrap(), Exit::BadInput, "{profile}");
    }
    let args = common::run_args(&["--rate-profile", "0:1000", "--inflight", "100"]);
    assert_eq!(run::run(&args).unwrap(), Exit::BadInput);
}
