//! One verdict per signature, end to end: clients that sign with ed25519 edge cases
//! (torsion components, non-canonical encodings, `S ≥ L`; `--client-edge-signatures`)
//! get the same verdict from the believable validator that orders their transaction,
//! from every normal validator's sample (`--samplers all`) and from every re-check, so
//! no honest validator is blamed or slashed; the oracle re-verifies every logged
//! edge-signed witness alone with ed25519-zebra and agrees.

mod common;

use ioschain_harness::run::Exit;
use serde_json::Value;

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

#[test]
fn edge_case_signatures_get_one_verdict_everywhere_and_blame_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let (exit, s) = common::small_run(
        dir.path(),
        &["--client-edge-signatures", "0.05", "--samplers", "all"],
    );
    assert_eq!(exit, Exit::Valid, "{:#}", s["validity"]);
    let pob = &s["pob"];
    // A sample that disagreed with the believable validator would be a fraud proof and
    // a slash; a re-check that disagreed, an exclusion.
    assert_eq!(u(&pob["proofs"]["bad_signature"]), 0, "{pob:#}");
    assert_eq!(u(&pob["slashes"]), 0, "{pob:#}");
    assert_eq!(u(&pob["excluded"]), 0, "{pob:#}");
    assert!(u(&pob["sampled_signatures"]) > 0);
    // The invalid edge cases were rejected (each for the reason the workload expected:
    // the oracle's `every_tx_accounted` checks that), the valid ones are final.
    let counts = &s["counts"];
    let rejected: u64 = counts["rejected"]
        .as_object()
        .unwrap()
        .values()
        .map(u)
        .sum();
    let canaries = common::canaries(&s);
    assert!(rejected > canaries, "{counts:#}");
    assert!(u(&counts["rejected"]["bad_signature"]) > 0, "{counts:#}");
    assert_eq!(u(&counts["final"]) + rejected, u(&counts["submitted"]));
    let checks = s["validity"]["checks"].as_array().unwrap();
    let resampled = checks
        .iter()
        .find(|c| c["name"] == "signatures_resampled")
        .expect("the oracle re-verifies signatures");
    assert_eq!(resampled["ok"], true, "{resampled}");
    let detail = resampled["detail"].as_str().unwrap();
    let edge_checked: u64 = detail
        .split("and all ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no edge count in {detail}"));
    assert!(edge_checked > 0, "{detail}");
}
