//! Proof-of-Believability scenarios on small two-shard runs: each Byzantine behaviour is
//! detected (or routed around), the proof blames only the faulty validator, only
//! Byzantine validators are slashed, and every honest transaction still becomes final.
//! The run's own validity oracle (which re-reads the block log) must pass in each.
//!
//! They run on the seeded simulator (`ioschain sim`): the engine's shards and clients on
//! logical time, so a slow or loaded machine cannot make a timeout fire early, and the
//! same flags give the same run every time.

mod common;

use ioschain_harness::run::Exit;
use serde_json::Value;

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn ids(v: &Value) -> Vec<u64> {
    v.as_array().unwrap().iter().map(u).collect()
}

/// The run is valid, every submitted transaction is final, and every slashed validator
/// is one the adversary corrupted (the oracle's `only_byzantine_blamed` agrees).
fn assert_valid_and_only_byzantine_slashed(exit: Exit, s: &Value) {
    assert_eq!(exit, Exit::Valid, "{:#}", s["validity"]);
    // Everything is final but the workload's canaries (rejected, as the oracle checked).
    assert_eq!(
        u(&s["counts"]["final"]) + common::canaries(s),
        u(&s["counts"]["submitted"])
    );
    let blamed = s["validity"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "only_byzantine_blamed")
        .expect("the oracle checks who was blamed");
    assert_eq!(blamed["ok"], true, "{blamed}");
    let pob = &s["pob"];
    for shard in 0..2 {
        let byzantine = ids(&pob["byzantine"][shard]);
        for v in ids(&pob["slashed"][shard]) {
            assert!(
                byzantine.contains(&v),
                "shard {shard}: honest validator {v} slashed"
            );
        }
    }
}

fn slashed_per_shard(s: &Value) -> Vec<usize> {
    (0..2)
        .map(|shard| s["pob"]["slashed"][shard].as_array().unwrap().len())
        .collect()
}

#[test]
fn honest_run_finalizes_optblocks_and_blames_nobody() {
    let dir = tempfile::tempdir().unwrap();
    let (exit, s) = common::small_sim(dir.path(), &[]);
    assert_valid_and_only_byzantine_slashed(exit, &s);
    let pob = &s["pob"];
    assert!(
        u(&pob["opt_blocks"]) > 0 && u(&pob["final_blocks"]) > 0,
        "{pob:#}"
    );
    assert_eq!(u(&pob["slashes"]), 0);
    assert_eq!(u(&pob["excluded"]), 0);
    assert!(u(&pob["sampled_signatures"]) > 0);
    assert!(s["latency_us"]["provisional"]["p50"].as_u64().unwrap() > 0);
}

#[test]
fn bad_signature_inclusion_is_sampled_proven_and_slashed() {
    let dir = tempfile::tempdir().unwrap();
    // Every transaction the corrupted validator signs has a corrupted signature; all
    // five normal validators sample, so the first OptBlock is caught.
    let (exit, s) = common::small_sim(
        dir.path(),
        &["--byzantine", "bad-signature", "--samplers", "all"],
    );
    assert_valid_and_only_byzantine_slashed(exit, &s);
    let pob = &s["pob"];
    assert!(slashed_per_shard(&s).iter().all(|&n| n >= 1), "{pob:#}");
    assert!(u(&pob["proofs"]["bad_signature"]) >= u(&pob["slashes"]));
    assert!(u(&pob["excluded"]) >= 1);
    // Every excluded transaction was a client's: its provisional confirmation was
    // reverted, it was compensated and re-submitted, and it is final now.
    assert_eq!(pob["harmed"], pob["excluded"]);
    assert!(pob["compensation"].as_u64().unwrap() > 0);
    assert_eq!(u(&pob["escape"]["final_"]), 0, "{pob:#}");
    assert!(u(&pob["recheck_signatures"]) > 0);
}

#[test]
fn equivocation_is_proven_and_slashed_without_losing_a_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let (exit, s) = common::small_sim(dir.path(), &["--byzantine", "equivocate"]);
    assert_valid_and_only_byzantine_slashed(exit, &s);
    let pob = &s["pob"];
    assert!(slashed_per_shard(&s).iter().all(|&n| n >= 1), "{pob:#}");
    assert!(u(&pob["proofs"]["equivocation"]) >= 2);
    // The first of the two blocks was applied and its transactions are valid.
    assert_eq!(u(&pob["excluded"]), 0);
}

#[test]
fn double_spend_across_own_blocks_is_a_failed_check_and_slashed() {
    let dir = tempfile::tempdir().unwrap();
    let (exit, s) = common::small_sim(dir.path(), &["--byzantine", "double-spend"]);
    assert_valid_and_only_byzantine_slashed(exit, &s);
    let pob = &s["pob"];
    assert!(slashed_per_shard(&s).iter().all(|&n| n >= 1), "{pob:#}");
    assert!(u(&pob["proofs"]["failed_check"]) >= 2);
    assert!(u(&pob["excluded"]) >= 2);
    // The conflicting spend (the same inputs, validly signed, to the adversary) harmed
    // nobody: the original is final.
    assert_eq!(u(&pob["harmed"]), 0);
}

#[test]
fn censored_transactions_are_rerouted_and_all_become_final() {
    let dir = tempfile::tempdir().unwrap();
    let (exit, s) = common::small_sim(dir.path(), &["--byzantine", "censor"]);
    assert_valid_and_only_byzantine_slashed(exit, &s);
    let pob = &s["pob"];
    assert!(u(&pob["reroutes"]) > 100, "{pob:#}");
    // Censorship cannot be proven; it costs the censor reputation, not stake.
    assert_eq!(u(&pob["slashes"]), 0);
}

#[test]
fn crashed_believable_validator_is_routed_around_and_loses_its_seat() {
    let dir = tempfile::tempdir().unwrap();
    let (exit, s) = common::small_sim(
        dir.path(),
        &["--byzantine", "crash", "--epoch-final-blocks", "10"],
    );
    assert_valid_and_only_byzantine_slashed(exit, &s);
    let pob = &s["pob"];
    assert!(u(&pob["reroutes"]) > 100, "{pob:#}");
    assert!(u(&pob["epochs"]) >= 6, "{pob:#}");
    // Missed duty drops a crashed validator's reputation below eligibility (0.3), so it
    // is never selected again and the adversary must corrupt another: every corrupted
    // validator but the latest (which may not have missed enough yet) has score 0.
    for shard in 0..2 {
        let byzantine = ids(&pob["byzantine"][shard]);
        assert!(byzantine.len() >= 2, "shard {shard}: {pob:#}");
        let standings = pob["top_believability"][shard].as_array().unwrap();
        let ineligible = standings
            .iter()
            .filter(|st| byzantine.contains(&u(&st["validator"])))
            .filter(|st| st["reputation"].as_f64().unwrap() < 0.3 && st["score"] == 0.0)
            .count();
        assert!(
            ineligible + 1 >= byzantine.len(),
            "shard {shard}: {byzantine:?} {standings:#?}"
        );
    }
}

#[test]
fn too_few_eligible_believable_validators_fall_back_to_one_league() {
    let dir = tempfile::tempdir().unwrap();
    // 7 validators cannot supply the 8 eligible ones `league_min` asks for.
    let (exit, s) = common::small_sim(dir.path(), &["--league-min", "8"]);
    assert_valid_and_only_byzantine_slashed(exit, &s);
    let pob = &s["pob"];
    assert_eq!(pob["single_league_epochs"], pob["epochs"], "{pob:#}");
    assert_eq!(u(&pob["opt_blocks"]), 0);
    assert!(u(&pob["blocks_without_optblocks"]) > 0);
}

#[test]
fn exposure_cap_holds_back_a_believable_validator_at_its_stake() {
    let dir = tempfile::tempdir().unwrap();
    // Stakes of 20–40 million against transactions moving about a million each: a
    // believable validator may have only a few dozen unfinalized transactions out.
    let (exit, s) = common::small_sim(dir.path(), &["--stake", "20000000"]);
    assert_valid_and_only_byzantine_slashed(exit, &s);
    let pob = &s["pob"];
    assert!(u(&pob["exposure_deferrals"]) > 0, "{pob:#}");
    assert!(u(&pob["reroutes"]) >= u(&pob["exposure_deferrals"]));
}

#[test]
fn servi_reset_rotates_the_believable_league_over_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let (exit, s) = common::small_sim(dir.path(), &["--epoch-final-blocks", "5"]);
    assert_valid_and_only_byzantine_slashed(exit, &s);
    let pob = &s["pob"];
    assert!(u(&pob["epochs"]) >= 10, "{pob:#}");
    for shard in 0..2 {
        // Two seats, seven validators: the seats pass around.
        assert!(
            u(&pob["distinct_believable"][shard]) >= 5,
            "shard {shard}: {:?}",
            pob["leagues"][shard]
        );
    }
}

/// With `samplers = "all"`, V = 68 normal validators (69 − 1 believable), p = 0.1: the
/// share of forged transactions that no sampler selects must match `(1 − p)^V`
/// (≈ 7.7e-4 at V = 68, a little more as slashed validators stop sampling; the engine
/// sums the model over each forged transaction's actual samplers). The unsampled count
/// is binomial, so the test accepts the expected count ± 5 standard deviations, plus 2
/// for the count's granularity at a mean of about 15: tight enough that correlated
/// samplers or a wrong p (p = 0.05 would let ~0.03 escape, 40× the model) fail. Each
/// epoch the adversary corrupts the one believable validator, whose first OptBlock (one
/// 200 ms verification batch, about 1,000 transactions) is all forged; every forged
/// transaction is caught (by a sampler, or the re-check after the slash), so none is
/// final, and its client re-submits it.
#[test]
fn escape_rate_with_all_samplers_matches_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let cache = dir.path().join("cache");
    let (exit, s) = common::sim(&[
        "--shards",
        "2",
        "--rate",
        "10000",
        "--txs",
        "70000",
        "--accounts",
        "200000",
        "--cross-shard",
        "0",
        "--validators-per-shard",
        "69",
        "--believable",
        "1",
        "--league-min",
        "1",
        "--samplers",
        "all",
        "--byzantine",
        "bad-signature",
        "--epoch-final-blocks",
        "5",
        "--verify-batch-min",
        "8192",
        "--verify-batch-max",
        "8192",
        "--verify-wait-us",
        "200000",
        "--out",
        out.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
    ]);
    assert_valid_and_only_byzantine_slashed(exit, &s);
    let escape = &s["pob"]["escape"];
    let forged = u(&escape["forged"]);
    assert!(forged >= 10_000, "only {forged} forged: {escape:#}");
    let unsampled = u(&escape["unsampled"]) as f64;
    let model = escape["model"].as_f64().unwrap();
    // V starts at 68 and falls by one per slash (about 8 per shard here): the model
    // stays between (0.9)^68 and (0.9)^55.
    assert!((7.0e-4..3.2e-3).contains(&model), "{escape:#}");
    let expected = model * forged as f64;
    let sd = escape["model_sd"].as_f64().unwrap();
    assert!(
        (unsampled - expected).abs() <= 5.0 * sd + 2.0,
        "{unsampled} unsampled, model {expected:.1} ± {sd:.1}"
    );
    assert_eq!(u(&escape["final_"]), 0);
}
