//! Adaptive batching (issue 13, item 3): while a worker's core has room, its shards wait
//! less for a full verification batch (smaller batches, lower provisional latency); with
//! `--verify-wait-min-us` at the bound the wait is fixed.

mod common;

use common::TINY_RUN;
use ioschain_harness::run::Exit;

/// `load.verify_wait_ms` of a run: (mean, least, most).
fn wait(summary: &serde_json::Value) -> (f64, f64, f64) {
    let w = &summary["load"]["verify_wait_ms"];
    let at = |i: usize| w[i].as_f64().unwrap_or_else(|| panic!("{w:#}"));
    (at(0), at(1), at(2))
}

#[test]
fn a_lightly_loaded_engine_shortens_its_batch_wait() {
    let dir = tempfile::tempdir().unwrap();
    // 600 tx/s over two shards: a few percent of a core, far below the 60% under which
    // the wait shrinks, however slow the test build or busy the machine.
    let (exit, summary) = common::small_run_at(dir.path(), "2", "600", TINY_RUN, &[]);
    assert_eq!(exit, Exit::Valid, "{:#}", summary["validity"]);
    let (mean, least, most) = wait(&summary);
    assert_eq!(most, 10.0, "it starts at the bound (engine.verify_wait_us)");
    assert!(least < 10.0 && mean < 10.0, "{mean} {least} {most}");
    assert!(
        least >= 1.0,
        "never below engine.verify_wait_min_us: {least}"
    );
}

#[test]
fn a_minimum_wait_at_the_bound_fixes_the_wait() {
    let dir = tempfile::tempdir().unwrap();
    let (exit, summary) = common::small_run_at(
        dir.path(),
        "2",
        "600",
        TINY_RUN,
        &["--verify-wait-min-us", "10000"],
    );
    assert_eq!(exit, Exit::Valid, "{:#}", summary["validity"]);
    assert_eq!(wait(&summary), (10.0, 10.0, 10.0));
}
