//! `ioschain sweep`: scaling curves (BENCHMARKING.md rule 10).
//!
//! **Grid.** `--shards` × `--rates` × `--repeat`: for every shard count S, offered rate R
//! (tx/s over all shards, open loop) and repeat k (1-based) the sweep calls [`run::run`]
//! with the user's other `ioschain run` flags plus `--shards S --rate R
//! --out OUT/shards{S}-rate{R}-rep{k}`. `--rate`, `--inflight` and `--print-config` are
//! rejected (exit 2): the sweep sets the rate of every point itself. `--cores` keeps the
//! run default (all cores) unless given.
//!
//! **Outputs.** After the grid, in OUT (default `target/ioschain/sweeps/<UTC time>`):
//! - `sweep.csv`: one row per run, columns `shards, cores, offered_tps, repeat, tps_final,
//!   final_p50_ms, final_p99_ms, provisional_p99_ms, efficiency, valid` (efficiency empty
//!   when the run skipped the ceiling measurement);
//! - `sweep.md`: per (shards, rate) the medians over repeats of final throughput, final p99
//!   and final throughput per core (the latency-vs-throughput curve), then the max
//!   sustainable rate per shard count, then the scaling at saturation: each shard
//!   count's highest median final throughput over the first shard count's (with
//!   `--shards 1,2` at saturating rates, the 1→2 core ratio), and the share of the cores
//!   the driver and store threads took (they share the cores with the workers). The
//!   same tables are printed.
//!
//! **Max sustainable rate.** For a shard count, the highest offered rate R such that the
//! median final p99 over its repeats is ≤ `--slo-ms`, the median final throughput is
//! ≥ 0.95 × R (the engine keeps up with the offered load) and every repeat is valid;
//! "none" when no rate qualifies.
//!
//! **Exit codes.** 0 every run valid, 1 some run invalid (the tables are still written),
//! 2 bad input (lists that are empty or hold a non-number or zero, `--repeat 0`,
//! `--slo-ms` ≤ 0, a rejected pass-through flag, or a run that reports bad input).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::SystemTime;

use anyhow::Context;
use ioschain_reports::numbers::thousands;
use ioschain_reports::summary::RunSummary;

use crate::cli::{RunArgs, SweepArgs};
use crate::run::{self, Exit};

/// The name of the per-run table in the sweep directory.
pub const SWEEP_CSV: &str = "sweep.csv";
/// The name of the Markdown tables in the sweep directory.
pub const SWEEP_MD: &str = "sweep.md";
/// The header of [`SWEEP_CSV`].
pub const CSV_HEADER: &str = "shards,cores,offered_tps,repeat,tps_final,final_p50_ms,final_p99_ms,provisional_p99_ms,efficiency,valid";
/// The share of the offered rate a point must finalize to count as sustained.
pub const SUSTAINED_FRACTION: f64 = 0.95;

/// One finished run of the grid.
#[derive(Clone, Debug)]
pub struct Point {
    /// Shards.
    pub shards: u32,
    /// Cores (worker threads) the run used.
    pub cores: u32,
    /// Offered rate, tx/s.
    pub rate: u64,
    /// Repeat, 1-based.
    pub repeat: u32,
    /// Final throughput, tx/s.
    pub tps_final: f64,
    /// Final p50, ms.
    pub final_p50_ms: f64,
    /// Final p99, ms.
    pub final_p99_ms: f64,
    /// Provisional p99, ms.
    pub provisional_p99_ms: f64,
    /// Throughput against the verification ceiling, when measured.
    pub efficiency: Option<f64>,
    /// Whether every validity check passed.
    pub valid: bool,
    /// The driver's and the store's CPU time as a share of the run's cores, when known.
    pub helpers_share: Option<f64>,
}

/// Medians over the repeats of one (shards, rate) cell.
#[derive(Clone, Debug)]
pub struct Cell {
    /// Shards.
    pub shards: u32,
    /// Offered rate, tx/s.
    pub rate: u64,
    /// Cores used (of the first repeat).
    pub cores: u32,
    /// Median final throughput, tx/s.
    pub tps_final: f64,
    /// Median final p99, ms.
    pub final_p99_ms: f64,
    /// Median final throughput per core, tx/s.
    pub tps_per_core: f64,
    /// Whether every repeat was valid.
    pub all_valid: bool,
    /// Median share of the cores the driver and store threads took (`None`: unknown).
    pub helpers_share: Option<f64>,
}

impl Cell {
    /// Whether the cell meets the max-sustainable-rate rule for `slo_ms`.
    pub fn sustained(&self, slo_ms: f64) -> bool {
        self.all_valid
            && self.final_p99_ms <= slo_ms
            && self.tps_final >= SUSTAINED_FRACTION * self.rate as f64
    }
}

/// Parses a comma-separated list of positive integers for `flag` (e.g. `--rates`).
pub fn parse_list(flag: &str, text: &str) -> Result<Vec<u64>, String> {
    let mut values = Vec::new();
    for item in text.split(',').map(str::trim) {
        if item.is_empty() {
            continue;
        }
        let value: u64 = item
            .replace('_', "")
            .parse()
            .map_err(|_| format!("{flag}: '{item}' is not a number"))?;
        if value == 0 {
            return Err(format!("{flag}: 0 is not allowed (must be above 0)"));
        }
        values.push(value);
    }
    if values.is_empty() {
        return Err(format!("{flag}: the list is empty"));
    }
    values.sort_unstable();
    values.dedup();
    Ok(values)
}

/// The flags of `ioschain run` the sweep sets itself or that make no sense in a sweep.
fn rejected_flags(args: &RunArgs) -> Vec<&'static str> {
    let mut rejected = Vec::new();
    if args.shards.is_some() {
        rejected.push("--run-shards (use --shards LIST)");
    }
    if args.rate.is_some() {
        rejected.push("--rate (use --rates LIST)");
    }
    if args.inflight.is_some() {
        rejected.push("--inflight (a sweep is open loop over --rates)");
    }
    rejected.extend(args.run_only_flags());
    rejected
}

/// The median of `values` (the mean of the middle two for an even count); NaN if empty.
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Runs `ioschain sweep` and returns the exit status.
pub fn sweep(args: &SweepArgs) -> anyhow::Result<Exit> {
    let bad = |message: String| {
        eprintln!("error: {message}");
        eprintln!("(see `ioschain sweep --help`)");
        Ok(Exit::BadInput)
    };
    let shards = match parse_list("--shards", &args.shards) {
        Ok(v) => v,
        Err(e) => return bad(e),
    };
    let rates = match parse_list("--rates", &args.rates) {
        Ok(v) => v,
        Err(e) => return bad(e),
    };
    if let Some(too_big) = shards.iter().find(|&&s| s > u64::from(u32::MAX)) {
        return bad(format!("--shards: {too_big} is too large"));
    }
    if args.repeat == 0 {
        return bad("--repeat: 0 is not allowed (must be at least 1)".into());
    }
    if !(args.slo_ms.is_finite() && args.slo_ms > 0.0) {
        return bad(format!(
            "--slo-ms: {} is not allowed (must be above 0)",
            args.slo_ms
        ));
    }
    let rejected = rejected_flags(&args.run);
    if !rejected.is_empty() {
        return bad(format!(
            "not allowed with `ioschain sweep`: {}",
            rejected.join(", ")
        ));
    }
    let out = args.run.out.clone().unwrap_or_else(|| {
        PathBuf::from("target/ioschain/sweeps").join(run::utc_stamp(SystemTime::now()))
    });
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create sweep directory {}", out.display()))?;

    let total = shards.len() * rates.len() * args.repeat as usize;
    let mut points = Vec::with_capacity(total);
    let mut index = 0;
    for &s in &shards {
        for &rate in &rates {
            for repeat in 1..=args.repeat {
                index += 1;
                let shards = s as u32;
                let dir = out.join(format!("shards{shards}-rate{rate}-rep{repeat}"));
                let mut point_args = args.run.clone();
                point_args.shards = Some(shards);
                point_args.rate = Some(rate as f64);
                point_args.out = Some(dir.clone());
                eprintln!(
                    "[{index}/{total}] shards {shards} · rate {} · repeat {repeat}/{} → {}",
                    thousands(rate as f64),
                    args.repeat,
                    dir.display()
                );
                let cores = match run::resolve_config(&point_args) {
                    // The engine runs one worker per core but never more workers than
                    // shards: those are the cores the run actually used.
                    Ok(config) => config.cores().min(config.shards()),
                    Err(e) => return bad(format!("shards {shards}, rate {rate}: {e}")),
                };
                match run::run(&point_args)? {
                    Exit::BadInput => {
                        eprintln!(
                            "error: the run at shards {shards}, rate {rate} reported bad input; sweep stopped"
                        );
                        return Ok(Exit::BadInput);
                    }
                    Exit::Valid | Exit::Invalid => {}
                }
                let summary = RunSummary::load(&dir)?;
                points.push(point(shards, cores, rate, repeat, &summary));
            }
        }
    }

    let cells = cells(&points);
    let csv = render_csv(&points);
    std::fs::write(out.join(SWEEP_CSV), csv)
        .with_context(|| format!("cannot write {}", out.join(SWEEP_CSV).display()))?;
    let markdown = render_markdown(&cells, &shards, args.slo_ms, args.repeat);
    std::fs::write(out.join(SWEEP_MD), &markdown)
        .with_context(|| format!("cannot write {}", out.join(SWEEP_MD).display()))?;
    println!();
    print!("{markdown}");
    println!("sweep: {}", out.join(SWEEP_MD).display());
    println!("sweep: {}", out.join(SWEEP_CSV).display());
    Ok(if points.iter().all(|p| p.valid) {
        Exit::Valid
    } else {
        Exit::Invalid
    })
}

/// The point of a run of `shards` shards on `cores` cores at `rate` (repeat `repeat`).
pub fn point(shards: u32, cores: u32, rate: u64, repeat: u32, s: &RunSummary) -> Point {
    Point {
        shards,
        cores,
        rate,
        repeat,
        tps_final: s.tps.final_,
        final_p50_ms: s.latency_us.final_.p50 as f64 / 1000.0,
        final_p99_ms: s.latency_us.final_.p99 as f64 / 1000.0,
        provisional_p99_ms: s.latency_us.provisional.p99 as f64 / 1000.0,
        efficiency: s.efficiency,
        valid: s.validity.valid,
        helpers_share: s
            .load
            .cpu
            .as_ref()
            .map(|cpu| cpu.helpers_share(cores, s.load.elapsed_s)),
    }
}

/// Groups `points` by (shards, rate), in grid order, with medians over the repeats.
pub fn cells(points: &[Point]) -> Vec<Cell> {
    let mut keys: Vec<(u32, u64)> = points.iter().map(|p| (p.shards, p.rate)).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .map(|(shards, rate)| {
            let group: Vec<&Point> = points
                .iter()
                .filter(|p| p.shards == shards && p.rate == rate)
                .collect();
            let of = |f: fn(&Point) -> f64| median(&group.iter().map(|p| f(p)).collect::<Vec<_>>());
            Cell {
                shards,
                rate,
                cores: group[0].cores,
                tps_final: of(|p| p.tps_final),
                final_p99_ms: of(|p| p.final_p99_ms),
                tps_per_core: of(|p| p.tps_final / f64::from(p.cores.max(1))),
                all_valid: group.iter().all(|p| p.valid),
                helpers_share: group
                    .iter()
                    .map(|p| p.helpers_share)
                    .collect::<Option<Vec<f64>>>()
                    .map(|shares| median(&shares)),
            }
        })
        .collect()
}

/// Scaling at saturation: per shard count, its cell with the highest median final
/// throughput (over every offered rate), and that throughput over the smallest shard
/// count's (the 1→2 core ratio of `--shards 1,2`).
pub fn scaling(cells: &[Cell], shards: &[u64]) -> Vec<(Cell, f64)> {
    let peaks: Vec<Cell> = shards
        .iter()
        .filter_map(|&s| {
            cells
                .iter()
                .filter(|c| u64::from(c.shards) == s)
                .max_by(|a, b| a.tps_final.total_cmp(&b.tps_final))
                .cloned()
        })
        .collect();
    let base = peaks.first().map_or(1.0, |c| c.tps_final.max(1e-9));
    peaks
        .into_iter()
        .map(|c| {
            let ratio = c.tps_final / base;
            (c, ratio)
        })
        .collect()
}

/// The highest offered rate of `shards` that is sustained under `slo_ms`, if any.
pub fn max_sustainable(cells: &[Cell], shards: u32, slo_ms: f64) -> Option<u64> {
    cells
        .iter()
        .filter(|c| c.shards == shards && c.sustained(slo_ms))
        .map(|c| c.rate)
        .max()
}

/// [`SWEEP_CSV`]: the header and one row per run.
pub fn render_csv(points: &[Point]) -> String {
    let mut out = format!("{CSV_HEADER}\n");
    for p in points {
        let _ = writeln!(
            out,
            "{},{},{},{},{:.1},{:.3},{:.3},{:.3},{},{}",
            p.shards,
            p.cores,
            p.rate,
            p.repeat,
            p.tps_final,
            p.final_p50_ms,
            p.final_p99_ms,
            p.provisional_p99_ms,
            p.efficiency.map(|e| format!("{e:.4}")).unwrap_or_default(),
            p.valid
        );
    }
    out
}

/// [`SWEEP_MD`]: the per-cell medians and the max sustainable rate per shard count.
pub fn render_markdown(cells: &[Cell], shards: &[u64], slo_ms: f64, repeat: u32) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# ioschain sweep\n");
    let _ = writeln!(
        out,
        "Medians over {repeat} repeat{} per point. Cores = worker cores used (at most one per shard); final throughput per core = final tx/s ÷ cores.\n",
        if repeat == 1 { "" } else { "s" }
    );
    let _ = writeln!(
        out,
        "| shards | cores | offered tx/s | final tx/s | final p99 ms | final tx/s per core | valid | sustained |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|:---:|:---:|");
    for c in cells {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.1} | {} | {} | {} |",
            c.shards,
            c.cores,
            thousands(c.rate as f64),
            thousands(c.tps_final),
            c.final_p99_ms,
            thousands(c.tps_per_core),
            if c.all_valid { "yes" } else { "NO" },
            if c.sustained(slo_ms) { "yes" } else { "no" }
        );
    }
    let _ = writeln!(
        out,
        "\n## Max sustainable rate (median final p99 ≤ {slo_ms} ms, median final tx/s ≥ {SUSTAINED_FRACTION} × offered, all repeats valid)\n"
    );
    let _ = writeln!(out, "| shards | max sustainable offered tx/s |");
    let _ = writeln!(out, "|---:|---:|");
    for &s in shards {
        let best = max_sustainable(cells, s as u32, slo_ms)
            .map(|r| thousands(r as f64))
            .unwrap_or_else(|| "none".into());
        let _ = writeln!(out, "| {s} | {best} |");
    }
    let _ = writeln!(
        out,
        "\n## Scaling at saturation (each shard count's highest median final tx/s, over the first's)\n"
    );
    let _ = writeln!(
        out,
        "| shards | cores | at offered tx/s | final tx/s | × the first | driver and store, share of the cores |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|---:|");
    for (c, ratio) in scaling(cells, shards) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {ratio:.2} | {} |",
            c.shards,
            c.cores,
            thousands(c.rate as f64),
            thousands(c.tps_final),
            c.helpers_share
                .map_or("unknown".into(), |h| format!("{:.1}%", h * 100.0))
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_with_clear_errors() {
        assert_eq!(
            parse_list("--rates", "50000, 25000,50000").unwrap(),
            vec![25000, 50000]
        );
        assert_eq!(
            parse_list("--rates", "50k").unwrap_err(),
            "--rates: '50k' is not a number"
        );
        assert!(parse_list("--shards", "").unwrap_err().contains("empty"));
        assert!(
            parse_list("--shards", "1,0")
                .unwrap_err()
                .contains("0 is not allowed")
        );
        assert!(
            parse_list("--shards", "-1")
                .unwrap_err()
                .contains("not a number")
        );
    }

    #[test]
    fn max_sustainable_follows_the_rule() {
        let cell = |rate: u64, tps: f64, p99: f64, valid: bool| Cell {
            shards: 1,
            rate,
            cores: 1,
            tps_final: tps,
            final_p99_ms: p99,
            tps_per_core: tps,
            all_valid: valid,
            helpers_share: None,
        };
        let cells = vec![
            cell(1000, 1000.0, 10.0, true),
            cell(2000, 1990.0, 200.0, true),
            cell(3000, 2000.0, 100.0, true),
            cell(4000, 4000.0, 100.0, false),
            cell(5000, 5000.0, 300.0, true),
        ];
        assert_eq!(max_sustainable(&cells, 1, 250.0), Some(2000));
        assert_eq!(max_sustainable(&cells, 1, 5.0), None);
        assert_eq!(max_sustainable(&cells, 2, 250.0), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0]), 2.5);
    }

    #[test]
    fn scaling_compares_each_shard_counts_peak_with_the_first() {
        let cell = |shards: u32, rate: u64, tps: f64| Cell {
            shards,
            rate,
            cores: shards,
            tps_final: tps,
            final_p99_ms: 5000.0,
            tps_per_core: tps / f64::from(shards),
            all_valid: true,
            helpers_share: Some(0.02),
        };
        let cells = vec![
            cell(1, 50_000, 49_000.0),
            cell(1, 100_000, 66_000.0),
            cell(2, 100_000, 98_000.0),
            cell(2, 200_000, 125_400.0),
        ];
        let rows = scaling(&cells, &[1, 2]);
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].0.rate, rows[0].1), (100_000, 1.0));
        assert_eq!(rows[1].0.rate, 200_000);
        assert!((rows[1].1 - 1.9).abs() < 1e-9, "{}", rows[1].1);
        let markdown = render_markdown(&cells, &[1, 2], 250.0, 1);
        assert!(
            markdown.contains("| 2 | 2 | 200,000 | 125,400 | 1.90 | 2.0% |"),
            "{markdown}"
        );
    }
}
