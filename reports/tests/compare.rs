//! The regression gate (`compare`) on summaries built in the test: bands, medians of
//! repeated runs, invalid runs, comparability warnings, bands files and load errors.

use std::path::{Path, PathBuf};

use ioschain_reports::compare::{Bands, BandsError, Comparison, Verdict, compare};
use ioschain_reports::summary::{RunSummary, SummaryError};
use serde_json::{Value, json};

/// A summary shaped like the `summary.json` of a 2-shard, 100k tx/s run (trimmed, plus
/// fields the reader must ignore).
fn fixture() -> Value {
    json!({
        "schema": "ioschain.run/1",
        "config": {
            "engine": { "block_interval_ms": 50, "verify_batch_max": 2048 },
            "run": {
                "cores": 2, "drain_timeout_s": 30.0, "duration_s": 20.0, "inflight": null,
                "measure_limits": true, "out": "/tmp/x", "rate": 100000.0, "seed": 1,
                "shards": 2, "warmup_s": 5.0
            },
            "store": { "backend": "auto", "fsync": "group" },
            "workload": {
                "accounts": 100000, "cache_dir": null, "genesis_amount": 1000000,
                "inputs_per_tx": 2, "invalid_fraction": 0.0, "outputs_per_tx": 2,
                "sender": "uniform", "utxos_per_account": 4, "zipf_theta": 0.99
            }
        },
        "machine": {
            "cpu": "AMD EPYC", "cores": 2, "kernel": "6.18", "hostname": "vm",
            "rustc": "rustc 1.95.0", "profile": "release", "git_sha": "3fd3", "git_dirty": false
        },
        "limits": { "verify_sigs_per_s_per_core": 88761.0, "verify_sigs_per_s_cores": 168304.9 },
        "offered_tps": 100000.0,
        "tps": { "final": 100001.3, "provisional": 100001.3, "intra_shard": 100001.3, "cross_shard": 0.0 },
        "latency_us": {
            "provisional": { "p50": 36575, "p90": 59839, "p99": 70207, "p999": 120959, "max": 143359, "count": 2000026 },
            "final": { "p50": 46879, "p90": 70399, "p99": 89087, "p999": 165631, "max": 192511, "count": 2000026 },
            "cross_shard": null
        },
        "efficiency": 0.594167426928804,
        "counts": { "submitted": 2500000, "final": 2500000 },
        "roles": {
            "atomix": { "us_per_tx": 3.0, "share": 0.2 },
            "host": { "us_per_tx": 0.2, "share": 0.01 },
            "ordering": { "us_per_tx": 11.0, "share": 0.6 }
        },
        "cost": {
            "us_per_tx": 18.3, "model_txs": 1.83,
            "roles": { "atomix": 0.3, "host": 0.02, "ordering": 1.1 }
        },
        "warnings": [],
        "a_field_from_the_future": { "anything": [1, 2, 3] },
        "validity": {
            "valid": true,
            "checks": [
                { "name": "no_double_spend", "ok": true, "detail": "0 inputs spent twice" },
                { "name": "value_conserved", "ok": true, "detail": "conserved" }
            ]
        }
    })
}

/// Multiplies the number at `pointer` by `factor`.
fn scale(mut v: Value, pointer: &str, factor: f64) -> Value {
    let slot = v.pointer_mut(pointer).expect("field exists");
    let x = slot.as_f64().expect("a number") * factor;
    // Integers stay integers (latencies are whole microseconds).
    *slot = if slot.is_u64() {
        json!(x.round() as u64)
    } else {
        json!(x)
    };
    v
}

/// Sets the value at `pointer`.
fn set(mut v: Value, pointer: &str, value: Value) -> Value {
    *v.pointer_mut(pointer).expect("field exists") = value;
    v
}

/// Writes `v` as `DIR/name/summary.json` and loads it back through the run directory.
fn write_run(dir: &Path, name: &str, v: &Value) -> RunSummary {
    let run = dir.join(name);
    std::fs::create_dir_all(&run).unwrap();
    std::fs::write(
        run.join("summary.json"),
        serde_json::to_string_pretty(v).unwrap(),
    )
    .unwrap();
    RunSummary::load(&run).unwrap()
}

fn one_to_one(base: &Value, new: &Value) -> Comparison {
    let dir = tempfile::tempdir().unwrap();
    let base = write_run(dir.path(), "base", base);
    let new = write_run(dir.path(), "new", new);
    compare(&[base], &[new], &Bands::default())
}

fn row<'a>(c: &'a Comparison, name: &str) -> &'a ioschain_reports::compare::MetricRow {
    c.rows
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no row {name} in\n{}", c.render_table()))
}

#[test]
fn run_compared_with_itself_passes() {
    let c = one_to_one(&fixture(), &fixture());
    assert_eq!(c.verdict, Verdict::Pass, "{}", c.render_table());
    assert_eq!(c.exit_code(), 0);
    let names: Vec<&str> = c.rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "tps.final",
            "tps.provisional",
            "latency_us.final.p50",
            "latency_us.final.p99",
            "latency_us.provisional.p99",
            "efficiency",
            "cost.model_txs",
            "cost.roles.atomix",
            "cost.roles.ordering"
        ]
    );
    for r in &c.rows {
        assert_eq!(r.ratio, Some(1.0), "{}", r.name);
        assert_eq!(r.verdict, Verdict::Pass);
    }
    assert!(c.notes.is_empty(), "{:?}", c.notes);
    let table = c.render_table();
    assert!(table.contains("tps.final"), "{table}");
    assert!(table.contains("verdict: PASS (exit 0)"), "{table}");
}

#[test]
fn throughput_cut_by_25_percent_fails() {
    let new = scale(fixture(), "/tps/final", 0.75);
    let c = one_to_one(&fixture(), &new);
    assert_eq!(c.verdict, Verdict::Fail, "{}", c.render_table());
    assert_eq!(c.exit_code(), 1);
    let r = row(&c, "tps.final");
    assert_eq!(r.verdict, Verdict::Fail);
    assert!((r.ratio.unwrap() - 0.75).abs() < 1e-9);
    assert!(r.reason.contains("regression"), "{}", r.reason);
    assert_eq!(row(&c, "tps.provisional").verdict, Verdict::Pass);
    assert!(c.render_table().contains("verdict: FAIL (exit 1)"));
}

#[test]
fn throughput_up_20_percent_fails_asking_for_recalibration() {
    let new = scale(fixture(), "/tps/final", 1.2);
    let c = one_to_one(&fixture(), &new);
    assert_eq!(c.verdict, Verdict::Fail, "{}", c.render_table());
    let r = row(&c, "tps.final");
    assert_eq!(r.verdict, Verdict::Fail);
    assert!(
        r.reason.contains("recalibrate the baseline"),
        "{}",
        r.reason
    );
    // 10% up only warns.
    let c = one_to_one(&fixture(), &scale(fixture(), "/tps/final", 1.1));
    assert_eq!(c.verdict, Verdict::Warn, "{}", c.render_table());
    assert_eq!(c.exit_code(), 0);
}

#[test]
fn p99_latency_up_15_percent_warns() {
    let new = scale(fixture(), "/latency_us/final/p99", 1.15);
    let new = scale(new, "/latency_us/provisional/p99", 1.15);
    let c = one_to_one(&fixture(), &new);
    assert_eq!(c.verdict, Verdict::Warn, "{}", c.render_table());
    assert_eq!(c.exit_code(), 0);
    for name in ["latency_us.final.p99", "latency_us.provisional.p99"] {
        let r = row(&c, name);
        assert_eq!(r.verdict, Verdict::Warn, "{name}");
        assert!(r.reason.contains("possible regression"), "{}", r.reason);
    }
    assert_eq!(row(&c, "latency_us.final.p50").verdict, Verdict::Pass);
    // 30% up fails; 20% down is faster than expected and fails too.
    let c = one_to_one(&fixture(), &scale(fixture(), "/latency_us/final/p99", 1.3));
    assert_eq!(row(&c, "latency_us.final.p99").verdict, Verdict::Fail);
    let c = one_to_one(&fixture(), &scale(fixture(), "/latency_us/final/p99", 0.8));
    let r = row(&c, "latency_us.final.p99");
    assert_eq!(r.verdict, Verdict::Fail);
    assert!(r.reason.contains("recalibrate"), "{}", r.reason);
}

#[test]
fn invalid_run_always_fails() {
    let invalid = set(fixture(), "/validity/valid", json!(false));
    let invalid = set(invalid, "/validity/checks/0/ok", json!(false));
    // Identical figures: only validity differs.
    let c = one_to_one(&fixture(), &invalid);
    assert_eq!(c.verdict, Verdict::Fail, "{}", c.render_table());
    assert_eq!(c.exit_code(), 1);
    assert!(c.rows.iter().all(|r| r.verdict == Verdict::Pass));
    let note = c
        .notes
        .iter()
        .find(|n| n.verdict == Verdict::Fail)
        .expect("a failing note");
    assert!(note.message.starts_with("new run "), "{}", note.message);
    assert!(note.message.contains("INVALID"), "{}", note.message);
    assert!(note.message.contains("no_double_spend"), "{}", note.message);
    assert!(note.message.contains("new"), "{}", note.message);

    // The base side is named too.
    let c = one_to_one(&invalid, &fixture());
    assert_eq!(c.verdict, Verdict::Fail);
    assert!(
        c.notes
            .iter()
            .any(|n| n.message.starts_with("base run ") && n.message.contains("INVALID")),
        "{:?}",
        c.notes
    );
}

#[test]
fn medians_of_repeated_runs_are_compared() {
    let dir = tempfile::tempdir().unwrap();
    let with_tps = |tps: f64| set(fixture(), "/tps/final", json!(tps));
    let base: Vec<RunSummary> = [100_000.0, 90_000.0, 110_000.0]
        .iter()
        .enumerate()
        .map(|(i, &t)| write_run(dir.path(), &format!("base{i}"), &with_tps(t)))
        .collect();
    // One slow outlier: its mean (86.7k, 0.87×) would warn, its median (99k) passes.
    let new: Vec<RunSummary> = [99_000.0, 60_000.0, 101_000.0]
        .iter()
        .enumerate()
        .map(|(i, &t)| write_run(dir.path(), &format!("new{i}"), &with_tps(t)))
        .collect();
    let c = compare(&base, &new, &Bands::default());
    let r = row(&c, "tps.final");
    assert_eq!(r.base, 100_000.0);
    assert_eq!(r.new, 99_000.0);
    assert_eq!(r.verdict, Verdict::Pass);
    assert_eq!(c.verdict, Verdict::Pass, "{}", c.render_table());
    assert_eq!(c.base_runs.len(), 3);
    assert!(c.render_table().contains("median of 3 runs"));

    // An even count takes the mean of the two middle values: (60k + 99k) / 2 = 79.5k.
    let c = compare(&base, &new[..2], &Bands::default());
    let r = row(&c, "tps.final");
    assert_eq!(r.new, 79_500.0);
    assert_eq!(r.verdict, Verdict::Fail);
}

#[test]
fn bands_file_with_unknown_key_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bands.toml");
    std::fs::write(&path, "[throughput]\nfail_bellow = 0.7\n").unwrap();
    let err = Bands::load(&path).unwrap_err();
    assert!(matches!(err, BandsError::Parse { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("fail_bellow"), "{msg}");

    std::fs::write(&path, "[latancy]\nfail_above = 1.3\n").unwrap();
    let msg = Bands::load(&path).unwrap_err().to_string();
    assert!(msg.contains("latancy"), "{msg}");
}

#[test]
fn bands_file_overrides_defaults() {
    let bands = Bands::from_toml("[throughput]\nfail_below = 0.7\n", "bands.toml").unwrap();
    assert_eq!(bands.throughput.fail_below, 0.7);
    assert_eq!(bands.throughput.warn_below, 0.9);
    assert_eq!(bands.latency, Bands::default().latency);
    // The efficiency band follows the throughput band unless given.
    assert_eq!(bands.efficiency, bands.throughput);

    let dir = tempfile::tempdir().unwrap();
    let base = write_run(dir.path(), "base", &fixture());
    let new = write_run(dir.path(), "new", &scale(fixture(), "/tps/final", 0.75));
    let c = compare(&[base], &[new], &bands);
    assert_eq!(c.verdict, Verdict::Warn, "{}", c.render_table());

    assert_eq!(
        Bands::from_toml("", "empty.toml").unwrap(),
        Bands::default()
    );
}

#[test]
fn bands_out_of_order_are_rejected() {
    let err = Bands::from_toml("[latency]\nwarn_above = 1.5\n", "b.toml").unwrap_err();
    assert!(
        matches!(
            err,
            BandsError::Invalid {
                section: "latency",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("b.toml"), "{err}");
    assert!(Bands::from_toml("[throughput]\nfail_below = \"x\"\n", "b.toml").is_err());
}

#[test]
fn different_configurations_warn() {
    let new = set(fixture(), "/config/run/rate", json!(40000.0));
    let new = set(new, "/config/workload/cache_dir", json!("/somewhere"));
    let c = one_to_one(&fixture(), &new);
    assert_eq!(c.verdict, Verdict::Warn, "{}", c.render_table());
    let warns: Vec<&str> = c
        .notes
        .iter()
        .filter(|n| n.verdict == Verdict::Warn)
        .map(|n| n.message.as_str())
        .collect();
    assert_eq!(warns.len(), 1, "{warns:?}");
    assert!(warns[0].contains("config.run.rate"), "{}", warns[0]);
    assert!(warns[0].contains("40000.0"), "{}", warns[0]);
}

#[test]
fn cost_up_30_percent_fails_and_a_small_role_is_not_gated() {
    let c = one_to_one(&fixture(), &scale(fixture(), "/cost/model_txs", 1.3));
    assert_eq!(row(&c, "cost.model_txs").verdict, Verdict::Fail);
    assert!(row(&c, "cost.model_txs").reason.contains("regression"));
    assert_eq!(c.verdict, Verdict::Fail, "{}", c.render_table());
    // `host` takes 1% of the busy time: the total covers it, no row of its own.
    assert!(c.rows.iter().all(|r| r.name != "cost.roles.host"));
}

#[test]
fn one_role_costing_30_percent_more_fails_alone() {
    let c = one_to_one(&fixture(), &scale(fixture(), "/cost/roles/ordering", 1.3));
    assert_eq!(row(&c, "cost.roles.ordering").verdict, Verdict::Fail);
    assert_eq!(row(&c, "cost.roles.atomix").verdict, Verdict::Pass);
    assert_eq!(row(&c, "cost.model_txs").verdict, Verdict::Pass);
    assert_eq!(c.verdict, Verdict::Fail, "{}", c.render_table());
}

#[test]
fn cost_cut_by_20_percent_asks_for_recalibration() {
    let c = one_to_one(&fixture(), &scale(fixture(), "/cost/model_txs", 0.8));
    let r = row(&c, "cost.model_txs");
    assert_eq!(r.verdict, Verdict::Fail);
    assert!(r.reason.contains("recalibrate"), "{}", r.reason);
}

#[test]
fn json_lines_hold_one_dashboard_entry_per_metric() {
    let c = one_to_one(&fixture(), &scale(fixture(), "/cost/model_txs", 1.3));
    let text = c.json_lines();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), c.rows.len());
    let cost = lines
        .iter()
        .find(|l| l["name"] == "cost.model_txs")
        .unwrap();
    assert_eq!(cost["tool"], "customSmallerIsBetter");
    assert_eq!(cost["unit"], "model tx");
    assert!((cost["value"].as_f64().unwrap() - 1.83 * 1.3).abs() < 1e-9);
    assert!(cost["extra"].as_str().unwrap().contains("FAIL"), "{cost}");
    let tps = lines.iter().find(|l| l["name"] == "tps.final").unwrap();
    assert_eq!(tps["tool"], "customBiggerIsBetter");
    assert_eq!(tps["unit"], "tx/s");
}

#[test]
fn efficiency_is_compared_only_when_both_sides_have_it() {
    let c = one_to_one(&fixture(), &set(fixture(), "/efficiency", Value::Null));
    assert!(c.rows.iter().all(|r| r.name != "efficiency"));
    assert_eq!(c.verdict, Verdict::Pass, "{}", c.render_table());
    assert!(
        c.notes
            .iter()
            .any(|n| n.message.starts_with("efficiency not compared"))
    );
}

#[test]
fn a_base_of_zero_fails_without_a_ratio() {
    let c = one_to_one(&set(fixture(), "/tps/final", json!(0.0)), &fixture());
    let r = row(&c, "tps.final");
    assert_eq!(r.ratio, None);
    assert_eq!(r.verdict, Verdict::Fail);
}

#[test]
fn summaries_load_from_a_directory_or_a_file_and_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let from_dir = write_run(dir.path(), "run", &fixture());
    let file: PathBuf = dir.path().join("run").join("summary.json");
    let from_file = RunSummary::load(&file).unwrap();
    assert_eq!(from_dir.path, file);
    assert_eq!(from_file.tps.final_, 100001.3);
    assert_eq!(from_file.latency_us.final_.p99, 89087);
    assert_eq!(
        from_file.label(),
        dir.path().join("run").display().to_string()
    );

    // A directory without summary.json.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let err = RunSummary::load(&empty).unwrap_err();
    assert!(
        matches!(err, SummaryError::NoSummaryInDir { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains(&empty.display().to_string()));

    // A path that does not exist.
    let missing = dir.path().join("nope.json");
    let err = RunSummary::load(&missing).unwrap_err();
    assert!(matches!(err, SummaryError::Read { .. }), "{err:?}");
    assert!(err.to_string().contains("nope.json"));

    // Not JSON; a missing field; another schema.
    let err = RunSummary::from_json("{ not json", "a.json").unwrap_err();
    assert!(matches!(err, SummaryError::Parse { .. }), "{err:?}");
    assert!(err.to_string().starts_with("a.json: "), "{err}");
    let mut no_tps = fixture();
    no_tps.as_object_mut().unwrap().remove("tps");
    let err = RunSummary::from_json(&no_tps.to_string(), "b.json").unwrap_err();
    assert!(err.to_string().contains("tps"), "{err}");
    let other = set(fixture(), "/schema", json!("ioschain.run/2"));
    let err = RunSummary::from_json(&other.to_string(), "c.json").unwrap_err();
    assert!(matches!(err, SummaryError::Schema { .. }), "{err:?}");
    assert!(err.to_string().contains("ioschain.run/2"), "{err}");
}

#[test]
fn no_runs_on_a_side_fails() {
    let base = RunSummary::from_json(&fixture().to_string(), "base.json").unwrap();
    let c = compare(&[base], &[], &Bands::default());
    assert_eq!(c.verdict, Verdict::Fail);
    assert!(c.rows.is_empty());
}
