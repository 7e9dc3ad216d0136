//! Overload (issue 13, item 4): a shard's intake admits what it finishes within the
//! latency budget and refuses the rest as `overloaded`; the refused are sent again once
//! there is room, and those never admitted by the end of the schedule are shed, with
//! every transaction that depends on one. The run stays VALID and the oracle accounts
//! for each shed transaction.

mod common;

use common::check;
use ioschain_harness::run::Exit;

#[test]
fn a_full_intake_refuses_sheds_what_it_never_admitted_and_the_run_stays_valid() {
    let dir = tempfile::tempdir().unwrap();
    // The default mix (cross-shard transactions too, so shedding crosses shards through
    // receipts), with an intake far below what the pipeline holds at 1,500 tx/s a shard.
    let (exit, summary) = common::small_sim_at(
        dir.path(),
        "2",
        "3000",
        common::tiny_run_any_mix(),
        &[common::CROSS_MIX, &["--intake-max", "60"]].concat(),
    );
    let counts = &summary["counts"];
    assert_eq!(exit, Exit::Valid, "{:#}", summary["validity"]);
    let overloaded = counts["overloaded"].as_u64().unwrap();
    let shed = counts["shed"].as_u64().unwrap();
    assert!(overloaded > 0, "{counts:#}");
    assert!(shed > 0, "{counts:#}");
    assert!(shed <= counts["submitted"].as_u64().unwrap());
    let justified = check(&summary, "shed_justified");
    assert_eq!(justified["ok"], true, "{justified:#}");
    let wait = &summary["load"]["overloaded_wait_ms"];
    assert!(wait[1].as_f64().unwrap() > 0.0, "{wait:#}");
    assert!(
        summary["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().starts_with("overload:")),
        "{:#}",
        summary["warnings"]
    );
}

#[test]
fn a_shard_that_keeps_up_refuses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (exit, summary) = common::small_sim(dir.path(), &[]);
    assert_eq!(exit, Exit::Valid);
    assert_eq!(
        summary["counts"]["overloaded"], 0,
        "{:#}",
        summary["counts"]
    );
    assert_eq!(summary["counts"]["shed"], 0);
    assert!(summary["load"]["overloaded_wait_ms"].is_null());
}
