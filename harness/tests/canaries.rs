//! Canaries prove the checks ran: the default workload plants transactions that must be
//! rejected (a bad signature, an unknown input, a double spend), and the oracle's
//! `canaries` check requires each to be rejected for its reason and absent from the log.
//!
//! Built normally, a run rejects every canary. Built with a test-only feature that skips
//! signature verification (`--features test-skip-signatures`) or the UTXO check
//! (`--features test-skip-utxo-check`), the same run must end INVALID, with `canaries`
//! among the failed checks: `.ci/run` runs this file once per feature.

mod common;

use common::check;
use ioschain_harness::run::Exit;

#[cfg(not(any(feature = "test-skip-signatures", feature = "test-skip-utxo-check")))]
#[test]
fn every_canary_is_rejected_for_its_reason_and_the_run_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let (exit, s) = common::small_run(dir.path(), &["--canary-rate", "0.002"]);
    assert_eq!(exit, Exit::Valid, "{:#}", s["validity"]);
    // One of each kind per shard early, more at the rate.
    let released = common::canaries(&s);
    assert!(released > 6, "{}", check(&s, "canaries"));
    let rejected: u64 = s["counts"]["rejected"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(rejected, released);
    for kind in ["bad_signature", "unknown_input", "double_spend"] {
        assert!(
            s["counts"]["rejected"][kind].as_u64().unwrap() >= 2,
            "{kind}"
        );
    }
}

/// The default run of an engine built with a check skipped: INVALID, and the canaries
/// say which ones got through.
#[cfg(any(feature = "test-skip-signatures", feature = "test-skip-utxo-check"))]
fn run_with_a_check_skipped() -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let (exit, s) = common::small_run(dir.path(), &[]);
    assert_eq!(exit, Exit::Invalid, "{:#}", s["validity"]);
    let canaries = check(&s, "canaries");
    assert_eq!(canaries["ok"], false, "{canaries}");
    // The oracle's outcome check (the engine's rejections against the answer key) fails
    // on the same transactions.
    let outcomes = check(&s, "outcomes_as_expected");
    assert_eq!(outcomes["ok"], false, "{outcomes}");
    s
}

#[cfg(feature = "test-skip-signatures")]
#[test]
fn an_engine_that_skips_signature_verification_fails_the_canaries() {
    let s = run_with_a_check_skipped();
    let detail = check(&s, "canaries")["detail"].as_str().unwrap().to_owned();
    assert!(
        detail.contains("(bad_signature) was not rejected"),
        "{detail}"
    );
    assert_eq!(s["counts"]["rejected"]["bad_signature"], 0);
}

#[cfg(feature = "test-skip-utxo-check")]
#[test]
fn an_engine_that_skips_the_utxo_check_fails_the_canaries() {
    let s = run_with_a_check_skipped();
    let detail = check(&s, "canaries")["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("was not rejected"), "{detail}");
    assert_eq!(s["counts"]["rejected"]["unknown_input"], 0);
    assert_eq!(s["counts"]["rejected"]["double_spend"], 0);
    // The oracle's own replay of the log finds them too.
    assert_eq!(check(&s, "no_double_spend")["ok"], false);
}
