//! One run schema: the `summary.json` a real run writes loads into the reports'
//! `RunSummary` (the schema's one definition, `reports/src/summary.rs`) and writes back
//! identical, field for field: the reader knows every field the writer produces, with the
//! same types. A field added to the output without the schema, or a reader type that
//! drifts from the writer's, fails here.

mod common;

use ioschain_harness::run::Exit;
use ioschain_reports::summary::RunSummary;

#[test]
fn a_real_runs_summary_round_trips_through_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    // Cross-shard traffic, so every optional section (the cross-shard stage) is present.
    let (exit, written) = common::small_run_with(
        dir.path(),
        "2",
        common::tiny_run_any_mix(),
        &[
            "--cross-shard",
            "0.2",
            "--accounts",
            "400",
            "--cross-maturity",
            "64",
        ],
    );
    assert_eq!(exit, Exit::Valid, "{:#}", written["validity"]);
    assert!(
        written["latency_us"]["cross_shard"].is_object(),
        "{written:#}"
    );
    let loaded = RunSummary::load(dir.path().join("out")).expect("the reader loads it");
    assert!(loaded.validity.valid);
    assert!(loaded.tps.cross_shard > 0.0);
    assert_round_trips(&loaded, &written);
}

/// With the ceilings measured (the tiny run's flags without `--no-limits`), `limits`
/// holds the model ceiling and `efficiency_model` is `tps.final` over it; both survive
/// the round trip.
#[test]
fn a_summary_with_the_ceilings_round_trips_with_the_model_ceiling() {
    let dir = tempfile::tempdir().unwrap();
    let tiny: Vec<&str> = common::TINY_RUN
        .iter()
        .copied()
        .filter(|&flag| flag != "--no-limits")
        .collect();
    assert_eq!(tiny.len() + 1, common::TINY_RUN.len());
    let (exit, written) = common::small_run_with(dir.path(), "2", &tiny, &[]);
    assert_eq!(exit, Exit::Valid, "{:#}", written["validity"]);
    let loaded = RunSummary::load(dir.path().join("out")).expect("the reader loads it");
    let limits = loaded.limits.as_ref().expect("the ceilings were measured");
    let model = limits
        .model_tx_per_s
        .expect("the model ceiling was measured");
    assert!(model.is_finite() && model > 0.0, "{limits:?}");
    // The largest shard's genesis: 400 accounts × 4 outputs over 2 shards, about 800.
    let utxos = limits.model_utxos.expect("with its map size");
    assert!((400..=1600).contains(&utxos), "{limits:?}");
    let efficiency_model = loaded.efficiency_model.expect("computed with the ceilings");
    assert!(
        (efficiency_model - loaded.tps.final_ / model).abs() <= 1e-9 * efficiency_model.abs(),
        "efficiency_model {efficiency_model} = tps.final {} / {model}",
        loaded.tps.final_
    );
    assert_round_trips(&loaded, &written);
}

fn assert_round_trips(loaded: &RunSummary, written: &serde_json::Value) {
    let again = serde_json::to_value(loaded).unwrap();
    if again != *written {
        let a = serde_json::to_string_pretty(&again).unwrap();
        let w = serde_json::to_string_pretty(written).unwrap();
        let first = a
            .lines()
            .zip(w.lines())
            .position(|(x, y)| x != y)
            .unwrap_or(0);
        panic!(
            "summary.json does not round-trip; first difference at line {first}:\n  read back: {}\n  written:   {}",
            a.lines().nth(first).unwrap_or(""),
            w.lines().nth(first).unwrap_or("")
        );
    }
}
