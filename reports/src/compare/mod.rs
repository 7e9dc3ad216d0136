//! Comparing runs: the wall-clock regression gate of BENCHMARKING.md rule 8
//! (`ioschain compare --base RUN... --new RUN... [--bands FILE]`). Submodule `bands`: the
//! thresholds, their defaults and the bands file.
//!
//! # What is compared
//!
//! Each side is one or more run summaries ([`RunSummary`], `summary.json` of
//! `ioschain run`). With several runs on a side, the **median** of each metric over that
//! side's runs is compared (rule 8: several runs, median). The metrics are
//!
//! | metric | better | band |
//! |---|---|---|
//! | `tps.final` | higher | throughput |
//! | `tps.provisional` | higher | throughput |
//! | `latency_us.final.p50` | lower | latency |
//! | `latency_us.final.p99` | lower | latency |
//! | `latency_us.provisional.p99` | lower | latency |
//! | `efficiency` (only when every run has it) | higher | efficiency |
//! | `cost.model_txs` (only when every run has it) | lower | cost |
//! | `cost.roles.<role>`, each role with a median share of at least 10% of the base runs' busy time | lower | cost |
//!
//! `cost` is the workers' busy time per transaction in model transactions (the cost of
//! the least work a validating ledger does per transaction, measured on the same machine
//! in the same run): the figure a code regression moves and a change of machine does
//! not, since both the cost and the model ceiling scale with the machine's speed.
//!
//! Each row holds the two medians, `ratio = new / base` and a [`Verdict`] with its
//! reason.
//!
//! # Bands
//!
//! A [`Band`] is four thresholds on the ratio: `fail_below < warn_below ≤ 1 ≤ warn_above <
//! fail_above`. The bands are asymmetric and two-sided: a run much *better* than the
//! baseline also fails, because it means the baseline is stale ("faster than expected:
//! recalibrate the baseline"). Defaults ([`Bands::default`]):
//!
//! | band | fail below | warn below | warn above | fail above |
//! |---|---|---|---|---|
//! | throughput, efficiency (higher is better) | 0.80× | 0.90× | 1.05× | 1.15× |
//! | latency, cost (lower is better, mirrored) | 0.87× | 0.95× | 1.11× | 1.25× |
//!
//! For higher-is-better metrics the low side is the regression; for latency the high side
//! is. Comparisons are strict (a ratio of exactly 0.80 only warns). A TOML file overrides
//! any of them ([`Bands::load`]); unknown keys are rejected:
//!
//! ```toml
//! [throughput]
//! fail_below = 0.8
//! warn_below = 0.9
//! warn_above = 1.05
//! fail_above = 1.15
//!
//! [latency]
//! fail_above = 1.3
//!
//! [efficiency]   # defaults to the throughput band
//! [cost]         # defaults to the latency band
//! ```
//!
//! # Other checks
//!
//! * An invalid run (`validity.valid = false`) on either side fails the comparison, named
//!   with its failed checks: an invalid run's throughput is not a result (rule 5).
//! * Runs whose shards, cores, rate, closed-loop in-flight count, duration, workload
//!   (except its cache directory) or machine (cpu, cores, build profile) differ are not
//!   comparable: each difference is a warning.
//! * A base median that is not positive gives no ratio and fails.
//!
//! # Overall verdict and exit code
//!
//! The overall verdict is the worst of every row and note. [`Comparison::exit_code`]:
//! 0 for pass or warn, 1 for fail; the binary uses [`EXIT_BAD_INPUT`] (2) for input it
//! cannot read (a missing or malformed summary, a bad bands file).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::summary::RunSummary;

mod bands;
pub use bands::{Band, Bands, BandsError};

/// Exit code of a comparison that passed or only warned.
pub const EXIT_PASS: u8 = 0;
/// Exit code of a comparison that failed.
pub const EXIT_FAIL: u8 = 1;
/// Exit code for input that could not be read (summaries, bands file, flags).
pub const EXIT_BAD_INPUT: u8 = 2;

/// The verdict on one metric, one note, or the whole comparison. Ordered: the worst wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Within the bands.
    Pass,
    /// Outside the warning band, inside the failure band.
    Warn,
    /// Outside the failure band, an invalid run, or no usable baseline.
    Fail,
}

impl Verdict {
    /// 0 for pass or warn, 1 for fail.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Pass | Verdict::Warn => EXIT_PASS,
            Verdict::Fail => EXIT_FAIL,
        }
    }

    /// `"PASS"`, `"WARN"` or `"FAIL"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// Which direction is an improvement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    /// Throughput, efficiency.
    Higher,
    /// Latency.
    Lower,
}

/// How a metric's values are printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// Transactions per second.
    TxPerSecond,
    /// Microseconds.
    Micros,
    /// A fraction (efficiency).
    Fraction,
    /// Model transactions (cost).
    ModelTxs,
}

impl Unit {
    fn format(self, v: f64) -> String {
        match self {
            Unit::TxPerSecond => format!("{v:.1}"),
            Unit::Micros => format!("{v:.0}"),
            Unit::Fraction => format!("{v:.3}"),
            Unit::ModelTxs => format!("{v:.3}"),
        }
    }

    /// The unit as dashboards print it.
    pub fn label(self) -> &'static str {
        match self {
            Unit::TxPerSecond => "tx/s",
            Unit::Micros => "us",
            Unit::Fraction => "ratio",
            Unit::ModelTxs => "model tx",
        }
    }
}

#[derive(Clone, Copy)]
enum BandKind {
    Throughput,
    Latency,
    Efficiency,
    Cost,
}

/// A role is gated when its median share of the base runs' busy time is at least this
/// (smaller roles are too noisy at the gate's short runs to gate alone; the total covers
/// them).
pub const GATED_ROLE_SHARE: f64 = 0.10;

struct Metric {
    name: &'static str,
    better: Better,
    unit: Unit,
    band: BandKind,
    get: fn(&RunSummary) -> Option<f64>,
}

const METRICS: [Metric; 7] = [
    Metric {
        name: "tps.final",
        better: Better::Higher,
        unit: Unit::TxPerSecond,
        band: BandKind::Throughput,
        get: |s| Some(s.tps.final_),
    },
    Metric {
        name: "tps.provisional",
        better: Better::Higher,
        unit: Unit::TxPerSecond,
        band: BandKind::Throughput,
        get: |s| Some(s.tps.provisional),
    },
    Metric {
        name: "latency_us.final.p50",
        better: Better::Lower,
        unit: Unit::Micros,
        band: BandKind::Latency,
        get: |s| Some(s.latency_us.final_.p50 as f64),
    },
    Metric {
        name: "latency_us.final.p99",
        better: Better::Lower,
        unit: Unit::Micros,
        band: BandKind::Latency,
        get: |s| Some(s.latency_us.final_.p99 as f64),
    },
    Metric {
        name: "latency_us.provisional.p99",
        better: Better::Lower,
        unit: Unit::Micros,
        band: BandKind::Latency,
        get: |s| Some(s.latency_us.provisional.p99 as f64),
    },
    Metric {
        name: "efficiency",
        better: Better::Higher,
        unit: Unit::Fraction,
        band: BandKind::Efficiency,
        get: |s| s.efficiency,
    },
    Metric {
        name: "cost.model_txs",
        better: Better::Lower,
        unit: Unit::ModelTxs,
        band: BandKind::Cost,
        get: |s| s.cost.as_ref().map(|c| c.model_txs),
    },
];

/// One compared metric.
#[derive(Clone, Debug, Serialize)]
pub struct MetricRow {
    /// The metric's path in `summary.json`, e.g. `tps.final`.
    pub name: String,
    /// Median over the base runs.
    pub base: f64,
    /// Median over the new runs.
    pub new: f64,
    /// `new / base`; `None` when the base is not positive.
    pub ratio: Option<f64>,
    /// Which direction is an improvement.
    pub better: Better,
    /// How the values print.
    pub unit: Unit,
    /// The verdict.
    pub verdict: Verdict,
    /// Why.
    pub reason: String,
}

/// A finding about the runs rather than one metric (invalid run, configurations that
/// differ, a metric not compared).
#[derive(Clone, Debug, Serialize)]
pub struct Note {
    /// [`Verdict::Pass`] for information only.
    pub verdict: Verdict,
    /// What was found.
    pub message: String,
}

/// The result of [`compare`].
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    /// The base runs, as labelled in reports.
    pub base_runs: Vec<String>,
    /// The new runs.
    pub new_runs: Vec<String>,
    /// One row per compared metric.
    pub rows: Vec<MetricRow>,
    /// Findings about the runs.
    pub notes: Vec<Note>,
    /// The worst verdict of every row and note.
    pub verdict: Verdict,
}

/// The median of `values` (the mean of the two middle values for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

/// Compares the `new` runs with the `base` runs (medians per metric when a side has
/// several runs). See the module documentation.
pub fn compare(base: &[RunSummary], new: &[RunSummary], bands: &Bands) -> Comparison {
    let mut notes = Vec::new();
    for (side, runs) in [("base", base), ("new", new)] {
        if runs.is_empty() {
            notes.push(Note {
                verdict: Verdict::Fail,
                message: format!("no {side} runs given"),
            });
        }
        for run in runs.iter().filter(|r| !r.validity.valid) {
            let failed = run.failed_checks();
            let which = if failed.is_empty() {
                "validity.valid is false".to_owned()
            } else {
                format!("failed checks: {}", failed.join(", "))
            };
            notes.push(Note {
                verdict: Verdict::Fail,
                message: format!(
                    "{side} run {} is INVALID ({which}): an invalid run's figures are not a result",
                    run.label()
                ),
            });
        }
    }
    notes.extend(comparability(base, new));

    let mut rows = Vec::new();
    if !base.is_empty() && !new.is_empty() {
        for metric in &METRICS {
            let missing: Vec<String> = [("base", base), ("new", new)]
                .iter()
                .flat_map(|(side, runs)| {
                    runs.iter()
                        .filter(|r| (metric.get)(r).is_none())
                        .map(move |r| format!("{side} {}", r.label()))
                })
                .collect();
            if !missing.is_empty() {
                notes.push(Note {
                    verdict: Verdict::Pass,
                    message: format!(
                        "{} not compared: missing in {} (runs with --no-limits do not measure it)",
                        metric.name,
                        missing.join(", ")
                    ),
                });
                continue;
            }
            let values = |runs: &[RunSummary]| -> Vec<f64> {
                runs.iter().filter_map(|r| (metric.get)(r)).collect()
            };
            let band = match metric.band {
                BandKind::Throughput => &bands.throughput,
                BandKind::Latency => &bands.latency,
                BandKind::Efficiency => &bands.efficiency,
                BandKind::Cost => &bands.cost,
            };
            rows.extend(judge_metric(
                metric.name.to_owned(),
                metric.better,
                metric.unit,
                band,
                &values(base),
                &values(new),
            ));
        }
        rows.extend(role_rows(base, new, &bands.cost));
    }

    let verdict = rows
        .iter()
        .map(|r| r.verdict)
        .chain(notes.iter().map(|n| n.verdict))
        .max()
        .unwrap_or(Verdict::Pass);
    Comparison {
        base_runs: base.iter().map(RunSummary::label).collect(),
        new_runs: new.iter().map(RunSummary::label).collect(),
        rows,
        notes,
        verdict,
    }
}

/// The row of one metric from its values on each side (medians), or `None` when a side
/// has none.
fn judge_metric(
    name: String,
    better: Better,
    unit: Unit,
    band: &Band,
    base: &[f64],
    new: &[f64],
) -> Option<MetricRow> {
    let (b, n) = (median(base)?, median(new)?);
    let (ratio, verdict, reason) = if b > 0.0 && b.is_finite() && n.is_finite() {
        let ratio = n / b;
        let (verdict, reason) = band.judge(ratio, better);
        (Some(ratio), verdict, reason)
    } else if b > 0.0 && b.is_finite() {
        (
            None,
            Verdict::Fail,
            format!("new value {n} is not a number"),
        )
    } else {
        (
            None,
            Verdict::Fail,
            format!("base value {b} is not positive: no ratio; recalibrate the baseline"),
        )
    };
    Some(MetricRow {
        name,
        base: b,
        new: n,
        ratio,
        better,
        unit,
        verdict,
        reason,
    })
}

/// `cost.roles.<role>` for every role every run has a cost for and whose median share of
/// the base runs' busy time is at least [`GATED_ROLE_SHARE`].
fn role_rows(base: &[RunSummary], new: &[RunSummary], band: &Band) -> Vec<MetricRow> {
    let Some(first) = base.first().and_then(|r| r.cost.as_ref()) else {
        return Vec::new();
    };
    let mut rows = Vec::new();
    for role in first.roles.keys() {
        let cost = |runs: &[RunSummary]| -> Option<Vec<f64>> {
            runs.iter()
                .map(|r| r.cost.as_ref().and_then(|c| c.roles.get(role)).copied())
                .collect()
        };
        let share: Vec<f64> = base
            .iter()
            .filter_map(|r| r.roles.get(role).map(|c| c.share))
            .collect();
        if median(&share).is_none_or(|s| s < GATED_ROLE_SHARE) {
            continue;
        }
        let (Some(b), Some(n)) = (cost(base), cost(new)) else {
            continue;
        };
        rows.extend(judge_metric(
            format!("cost.roles.{role}"),
            Better::Lower,
            Unit::ModelTxs,
            band,
            &b,
            &n,
        ));
    }
    rows
}

/// The settings that must match for two runs to be comparable, as `(name, value)`.
fn comparable_settings(run: &RunSummary) -> Vec<(String, serde_json::Value)> {
    let at = |v: &serde_json::Value, pointer: &str| {
        v.pointer(pointer)
            .cloned()
            .unwrap_or(serde_json::Value::Null)
    };
    let mut settings = Vec::new();
    for key in ["shards", "cores", "rate", "inflight", "duration_s"] {
        settings.push((
            format!("config.run.{key}"),
            at(&run.config, &format!("/run/{key}")),
        ));
    }
    if let Some(workload) = run.config.get("workload").and_then(|w| w.as_object()) {
        for (key, value) in workload {
            if key != "cache_dir" {
                settings.push((format!("config.workload.{key}"), value.clone()));
            }
        }
    }
    let machine = &run.machine;
    for (key, value) in [
        ("cpu", serde_json::json!(machine.cpu)),
        ("cores", serde_json::json!(machine.cores)),
        ("profile", serde_json::json!(machine.profile)),
    ] {
        settings.push((format!("machine.{key}"), value));
    }
    settings
}

/// One warning per setting whose value differs between any two runs.
fn comparability(base: &[RunSummary], new: &[RunSummary]) -> Vec<Note> {
    // setting → value (as JSON text) → the runs that have it.
    let mut seen: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let runs = base
        .iter()
        .map(|r| ("base", r))
        .chain(new.iter().map(|r| ("new", r)));
    let total = base.len() + new.len();
    for (side, run) in runs {
        for (name, value) in comparable_settings(run) {
            seen.entry(name)
                .or_default()
                .entry(value.to_string())
                .or_default()
                .push(format!("{side} {}", run.label()));
        }
    }
    seen.into_iter()
        .filter_map(|(name, values)| {
            let listed: usize = values.values().map(Vec::len).sum();
            if values.len() < 2 && listed == total {
                return None;
            }
            let mut parts: Vec<String> = values
                .into_iter()
                .map(|(value, runs)| {
                    let runs = dedup(runs);
                    format!("{value} in {}", runs.join(", "))
                })
                .collect();
            if listed < total {
                parts.push("absent elsewhere".to_owned());
            }
            Some(Note {
                verdict: Verdict::Warn,
                message: format!("runs not comparable: {name} differs: {}", parts.join("; ")),
            })
        })
        .collect()
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    v.retain(|s| seen.insert(s.clone()));
    v
}

impl Comparison {
    /// One JSON object per line and compared metric, for dashboards: the entry shape of
    /// github-action-benchmark's `customSmallerIsBetter` / `customBiggerIsBetter` tools
    /// (`name`, `unit`, `value` — the new median — and `extra`: the base median, the ratio
    /// and the verdict) plus `tool`, naming which of the two the metric belongs to (split
    /// the lines by it, e.g. with `jq -s 'map(select(.tool == "customSmallerIsBetter"))'`).
    pub fn json_lines(&self) -> String {
        let mut out = String::new();
        for r in &self.rows {
            let tool = match r.better {
                Better::Lower => "customSmallerIsBetter",
                Better::Higher => "customBiggerIsBetter",
            };
            let line = serde_json::json!({
                "tool": tool,
                "name": r.name,
                "unit": r.unit.label(),
                "value": r.new,
                "extra": format!(
                    "base {} · ratio {} · {}: {}",
                    r.unit.format(r.base),
                    r.ratio.map_or_else(|| "-".to_owned(), |x| format!("{x:.3}")),
                    r.verdict,
                    r.reason
                ),
            });
            let _ = writeln!(out, "{line}");
        }
        out
    }

    /// 0 for pass or warn, 1 for fail.
    pub fn exit_code(&self) -> u8 {
        self.verdict.exit_code()
    }

    /// The comparison as aligned plain text: the runs, one row per metric, the notes and
    /// the overall verdict with its exit code.
    pub fn render_table(&self) -> String {
        let mut out = String::new();
        let side = |runs: &[String]| match runs.len() {
            0 => "no runs".to_owned(),
            1 => runs[0].clone(),
            n => format!("median of {n} runs ({})", runs.join(", ")),
        };
        let _ = writeln!(out, "base: {}", side(&self.base_runs));
        let _ = writeln!(out, "new:  {}", side(&self.new_runs));
        let _ = writeln!(out);

        let header = ["metric", "base", "new", "ratio", "verdict", "reason"];
        let cells: Vec<[String; 6]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.name.clone(),
                    r.unit.format(r.base),
                    r.unit.format(r.new),
                    r.ratio
                        .map_or_else(|| "-".to_owned(), |x| format!("{x:.3}×")),
                    r.verdict.to_string(),
                    r.reason.clone(),
                ]
            })
            .collect();
        let mut width = header.map(|h| h.chars().count());
        for row in &cells {
            for (w, c) in width.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cols: [&str; 6]| {
            // Name and text columns left-aligned, numbers right-aligned; no trailing spaces.
            let s = format!(
                "{:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}  {:<w4$}  {}",
                cols[0],
                cols[1],
                cols[2],
                cols[3],
                cols[4],
                cols[5],
                w0 = width[0],
                w1 = width[1],
                w2 = width[2],
                w3 = width[3],
                w4 = width[4],
            );
            s.trim_end().to_owned()
        };
        if !cells.is_empty() {
            let _ = writeln!(out, "{}", line(header));
            for row in &cells {
                let _ = writeln!(out, "{}", line(row.each_ref().map(String::as_str)));
            }
            let _ = writeln!(out);
        }
        if !self.notes.is_empty() {
            let _ = writeln!(out, "notes:");
            for note in &self.notes {
                let tag = match note.verdict {
                    Verdict::Pass => "info",
                    Verdict::Warn => "WARN",
                    Verdict::Fail => "FAIL",
                };
                let _ = writeln!(out, "  {tag}  {}", note.message);
            }
            let _ = writeln!(out);
        }
        let _ = writeln!(out, "verdict: {} (exit {})", self.verdict, self.exit_code());
        out
    }
}
