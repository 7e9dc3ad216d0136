//! Long runs: `ioschain soak` and the `soak` section of a run's summary (issue 18).
//!
//! **The section.** Every run whose measured window is at least two minutes gets a
//! `soak` section in `summary.json`, computed from its one-second timeline
//! ([`stability`]): the final throughput of the first and of the last measured minute
//! and their ratio; the least-squares slope of resident memory, of the per-second final
//! p99 and of the block log's bytes on disk, each fitted over the measured window after
//! its first minute (the first minute holds the warm-up of caches and allocator pools,
//! not a trend). Two verdicts become warnings: memory that keeps growing (the fitted
//! growth after the first minute above [`GROWTH_SHARE`] of its level then and above
//! [`GROWTH_FLOOR_BYTES`]: something is kept per transaction), and a last minute below
//! [`SUSTAINED_LAST_TO_FIRST`] of the first's throughput (the engine degraded).
//!
//! **The command.** `ioschain soak --minutes N [--fraction F] [--capacity TX_PER_S]
//! [--slo-ms MS] [run flags]` runs the engine for N measured minutes at F (default 0.8)
//! of the configuration's capacity: the `--capacity` given, or else the result of an
//! `ioschain capacity` search with the same run flags and SLO (its probes under
//! `OUT/capacity/`); `--rate` skips both and soaks at that rate. The soak run itself goes
//! to `OUT/run/` and prints the run's summary with its soak lines; exit codes are the
//! run's (0 valid, 1 invalid, 2 bad input), or the search's when it finds no rate.
//!
//! Memory is sampled by the engine's host once a second (`timeline.csv`: `rss_bytes`,
//! `disk_bytes`, and the shards' `queued_clients` and `queued_validators`).

use std::path::{Path, PathBuf};

use clap::Args;
use ioschain_reports::numbers::thousands;
use ioschain_reports::summary::Soak;

use crate::capacity::{self, CAPACITY_JSON};
use crate::cli::{CapacityArgs, RunArgs};
use crate::metrics::{Percentiles, Stage};
use crate::output::Row;
use crate::run::{self, Exit};

/// A growth of resident memory after the first minute above this share of its level
/// then (and above [`GROWTH_FLOOR_BYTES`]) is reported as memory that keeps growing.
pub const GROWTH_SHARE: f64 = 0.05;
/// ... and above this many bytes (allocator noise on a small process is not a leak).
pub const GROWTH_FLOOR_BYTES: f64 = 64.0 * 1024.0 * 1024.0;
/// A last minute below this share of the first minute's final throughput is reported.
pub const SUSTAINED_LAST_TO_FIRST: f64 = 0.95;
/// The shortest measured window that gets a soak section, seconds.
pub const SOAK_MIN_S: f64 = 120.0;

/// `ioschain soak`.
#[derive(Debug, Args)]
#[command(
    mut_arg("duration", |a| a.hide(true)),
    mut_arg("print_config", |a| a.hide(true)),
    mut_arg("out", |a| a.help("Soak directory: the capacity search in OUT/capacity, the soak run in OUT/run (default: target/ioschain/soak/<UTC time>)")),
    after_help = "Runs N measured minutes at --fraction of the capacity (--capacity, or an \
`ioschain capacity` search with the same flags and --slo-ms; --rate skips both). The run's \
summary gains a soak section: first and last minute's final tx/s, the slopes of resident memory, \
final p99 and disk bytes after the first minute, and warnings when memory keeps growing or the \
last minute falls below 0.95 of the first. --duration and --print-config are not allowed.\n\n\
Exit codes: 0 a valid soak, 1 an invalid one (or no capacity found), 2 bad input."
)]
pub struct SoakArgs {
    /// Measured minutes (at least 2: the first and the last minute are compared).
    #[arg(long)]
    pub minutes: f64,
    /// Share of the capacity to offer.
    #[arg(long, default_value_t = 0.8)]
    pub fraction: f64,
    /// The capacity, tx/s over all shards (skips the search).
    #[arg(long, value_name = "TX_PER_S")]
    pub capacity: Option<f64>,
    /// Latency SLO of the capacity search, ms.
    #[arg(long, default_value_t = 250.0)]
    pub slo_ms: f64,
    /// The `ioschain run` flags of the soak run (and of the capacity probes).
    #[command(flatten)]
    pub run: RunArgs,
}

/// The soak section of a run with `rows` (its timeline), or `None` when its measured
/// window (`warmup_s..end_s`) is shorter than [`SOAK_MIN_S`].
pub fn stability(rows: &[Row], warmup_s: f64, end_s: f64) -> Option<Soak> {
    if end_s - warmup_s < SOAK_MIN_S {
        return None;
    }
    let measured: Vec<&Row> = rows.iter().filter(|r| r.phase == "measure").collect();
    let minutes = (end_s - warmup_s) / 60.0;
    if measured.len() < 120 {
        return None;
    }
    let first = &measured[..60];
    let last = &measured[measured.len() - 60..];
    let tps = |rows: &[&Row]| rows.iter().map(|r| r.final_ as f64).sum::<f64>() / 60.0;
    let (first_minute_tps, last_minute_tps) = (tps(first), tps(last));
    let last_to_first = if first_minute_tps > 0.0 {
        last_minute_tps / first_minute_tps
    } else {
        0.0
    };
    let after_first = &measured[60..];
    // (minutes since the window's start, value) for the seconds that have a value.
    let series = |rows: &[&Row], value: &dyn Fn(&Row) -> Option<f64>| -> Vec<(f64, f64)> {
        rows.iter()
            .filter_map(|r| value(r).map(|v| ((r.second as f64 - warmup_s) / 60.0, v)))
            .collect()
    };
    let resident = series(after_first, &|r| r.levels.resident_bytes.map(|b| b as f64));
    let p99 = series(after_first, &|r| {
        let h = &r.histograms[Stage::Final as usize];
        (!h.is_empty()).then(|| Percentiles::of(h).p99 as f64 / 1000.0)
    });
    let disk = series(&measured, &|r| r.levels.disk_bytes.map(|b| b as f64));
    let resident_after_first_minute_bytes = first
        .last()
        .and_then(|r| r.levels.resident_bytes)
        .unwrap_or(0);
    let resident_slope_bytes_per_min = slope(&resident);
    let span = resident.last().map_or(0.0, |l| l.0) - resident.first().map_or(0.0, |f| f.0);
    let growth = resident_slope_bytes_per_min * span;
    Some(Soak {
        minutes,
        first_minute_tps,
        last_minute_tps,
        last_to_first,
        resident_after_first_minute_bytes,
        resident_slope_bytes_per_min,
        final_p99_slope_ms_per_min: slope(&p99),
        disk_slope_bytes_per_min: slope(&disk),
        memory_growing: growth > GROWTH_FLOOR_BYTES
            && growth > GROWTH_SHARE * resident_after_first_minute_bytes as f64,
        throughput_fell: last_to_first < SUSTAINED_LAST_TO_FIRST,
    })
}

/// The least-squares slope of `points` (0 with fewer than two distinct x).
pub fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    if sxx == 0.0 {
        return 0.0;
    }
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    sxy / sxx
}

/// The warnings a soak section raises.
pub fn warnings(soak: &Soak) -> Vec<String> {
    let mut out = Vec::new();
    if soak.memory_growing {
        out.push(format!(
            "resident memory keeps growing: {} MB per minute after the first minute (from {} MB): the engine keeps something per transaction",
            thousands(soak.resident_slope_bytes_per_min / 1e6),
            thousands(soak.resident_after_first_minute_bytes as f64 / 1e6),
        ));
    }
    if soak.throughput_fell {
        out.push(format!(
            "the last minute's final throughput ({} tx/s) is {:.2} of the first minute's ({} tx/s), below {SUSTAINED_LAST_TO_FIRST}",
            thousands(soak.last_minute_tps),
            soak.last_to_first,
            thousands(soak.first_minute_tps),
        ));
    }
    out
}

/// The soak lines of the summary block.
pub fn render(soak: &Soak) -> String {
    format!(
        "  soak        {:.1} min · final first minute {} tx/s · last {} tx/s ({:.3}) · memory {} MB after 1 min, {:+.1} MB/min · final p99 {:+.2} ms/min · disk {:+.1} MB/min\n",
        soak.minutes,
        thousands(soak.first_minute_tps),
        thousands(soak.last_minute_tps),
        soak.last_to_first,
        thousands(soak.resident_after_first_minute_bytes as f64 / 1e6),
        soak.resident_slope_bytes_per_min / 1e6,
        soak.final_p99_slope_ms_per_min,
        soak.disk_slope_bytes_per_min / 1e6,
    )
}

/// Runs `ioschain soak` and returns the exit status.
pub fn soak(args: &SoakArgs) -> anyhow::Result<Exit> {
    let bad = |message: String| {
        eprintln!("error: {message}");
        eprintln!("(see `ioschain soak --help`)");
        Ok(Exit::BadInput)
    };
    if !(args.minutes.is_finite() && args.minutes * 60.0 >= SOAK_MIN_S) {
        return bad(format!(
            "--minutes: {} is not allowed (at least 2: the first and the last minute are compared)",
            args.minutes
        ));
    }
    if !(args.fraction.is_finite() && args.fraction > 0.0 && args.fraction <= 1.5) {
        return bad(format!(
            "--fraction: {} is not allowed (above 0, at most 1.5)",
            args.fraction
        ));
    }
    if let Some(c) = args.capacity
        && !(c.is_finite() && c > 0.0)
    {
        return bad(format!("--capacity: {c} is not allowed (above 0 tx/s)"));
    }
    let mut rejected: Vec<&str> = args.run.run_only_flags();
    if args.run.duration.is_some() {
        rejected.push("--duration (use --minutes)");
    }
    if args.run.inflight.is_some() {
        rejected.push("--inflight (a soak is open loop)");
    }
    if args.run.rate.is_some() && args.capacity.is_some() {
        rejected.push("--rate with --capacity (give one)");
    }
    if !rejected.is_empty() {
        return bad(format!("not allowed with soak: {}", rejected.join(", ")));
    }
    let out = args.run.out.clone().unwrap_or_else(|| {
        PathBuf::from("target/ioschain/soak")
            .join(crate::run::utc_stamp(std::time::SystemTime::now()))
    });
    let rate = match (args.run.rate, args.capacity) {
        (Some(rate), _) => rate,
        (None, Some(capacity)) => args.fraction * capacity,
        (None, None) => match search_capacity(args, &out.join("capacity"))? {
            Ok(capacity) => {
                eprintln!(
                    "soak: capacity {} tx/s; soaking at {} × it",
                    thousands(capacity),
                    args.fraction
                );
                args.fraction * capacity
            }
            Err(exit) => return Ok(exit),
        },
    };
    eprintln!(
        "soak: {} measured minutes at {} tx/s",
        args.minutes,
        thousands(rate)
    );
    let mut run_args = args.run.clone();
    run_args.rate = Some(rate.round());
    run_args.duration = Some(args.minutes * 60.0);
    run_args.out = Some(out.join("run"));
    run::run(&run_args)
}

/// The capacity of `args`' configuration from an `ioschain capacity` search into `dir`:
/// `Ok(Err(exit))` when the search found no rate or reported bad input.
fn search_capacity(args: &SoakArgs, dir: &Path) -> anyhow::Result<Result<f64, Exit>> {
    let mut run = args.run.clone();
    run.warmup = None;
    run.out = Some(dir.to_path_buf());
    let capacity_args = CapacityArgs {
        slo_ms: args.slo_ms,
        start_rate: 20_000,
        min_rate: 1_000,
        max_rate: 1_000_000,
        precision: 0.02,
        probe_warmup: 1.0,
        probe_duration: 3.0,
        run,
    };
    eprintln!("soak: searching the capacity first (`ioschain capacity`, about 2 minutes)");
    let exit = capacity::capacity(&capacity_args)?;
    if exit != Exit::Valid {
        eprintln!("error: the capacity search found no rate to soak at");
        return Ok(Err(exit));
    }
    let path = dir.join(CAPACITY_JSON);
    let text = std::fs::read_to_string(&path)?;
    let record: serde_json::Value = serde_json::from_str(&text)?;
    Ok(record["result"]["rate"].as_f64().ok_or(Exit::Invalid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Levels, latency_histogram};

    fn row(second: u64, phase: &'static str, final_: u64, resident: u64) -> Row {
        let mut histograms = [
            latency_histogram(),
            latency_histogram(),
            latency_histogram(),
        ];
        histograms[Stage::Final as usize].record(100_000).unwrap();
        Row {
            second,
            phase,
            offered: final_,
            submitted: final_,
            provisional: final_,
            final_,
            rejected: 0,
            shed: 0,
            overloaded: 0,
            backpressure: 0,
            cross_shard: 0,
            histograms,
            levels: Levels {
                resident_bytes: Some(resident),
                disk_bytes: Some(second * 1_000),
                ..Levels::default()
            },
        }
    }

    /// A timeline: one warm-up second, `minutes` measured minutes, a drain second.
    fn timeline(minutes: u64, tps: impl Fn(u64) -> u64, resident: impl Fn(u64) -> u64) -> Vec<Row> {
        let end = 1 + minutes * 60;
        (0..=end)
            .map(|s| {
                let phase = match s {
                    0 => "warmup",
                    s if s < end => "measure",
                    _ => "drain",
                };
                row(s, phase, tps(s), resident(s))
            })
            .collect()
    }

    #[test]
    fn the_least_squares_slope_of_a_line_is_its_slope() {
        let line: Vec<(f64, f64)> = (0..10).map(|x| (x as f64, 3.0 * x as f64 + 7.0)).collect();
        assert!((slope(&line) - 3.0).abs() < 1e-9);
        assert_eq!(slope(&[(1.0, 5.0)]), 0.0);
        assert_eq!(slope(&[(1.0, 5.0), (1.0, 6.0)]), 0.0);
    }

    #[test]
    fn short_runs_have_no_soak_section() {
        let rows = timeline(1, |_| 1_000, |_| 1 << 30);
        assert_eq!(stability(&rows, 1.0, 61.0), None);
    }

    #[test]
    fn flat_memory_and_steady_throughput_raise_nothing() {
        // Memory jitters by 1 MB around 1 GB; throughput steady.
        let rows = timeline(3, |_| 80_000, |s| (1 << 30) + (s % 2) * 1_000_000);
        let soak = stability(&rows, 1.0, 181.0).expect("three minutes");
        assert_eq!(soak.minutes, 3.0);
        assert!(!soak.memory_growing, "{soak:?}");
        assert!(!soak.throughput_fell);
        assert!(soak.resident_slope_bytes_per_min.abs() < 1e6);
        assert!((soak.disk_slope_bytes_per_min - 60_000.0).abs() < 1.0);
        assert!(warnings(&soak).is_empty());
    }

    #[test]
    fn memory_that_keeps_growing_is_reported() {
        // 1 GB, then 1 MB more every second: 120 MB over the last two minutes.
        let rows = timeline(3, |_| 80_000, |s| (1 << 30) + s * 1_000_000);
        let soak = stability(&rows, 1.0, 181.0).expect("three minutes");
        assert!(soak.memory_growing, "{soak:?}");
        assert!((soak.resident_slope_bytes_per_min - 60e6).abs() < 1e3);
        let w = warnings(&soak);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("keeps growing"), "{w:?}");
    }

    #[test]
    fn a_last_minute_below_the_first_is_reported() {
        // 80k/s for two minutes, then 70k/s: 0.875 of the first minute.
        let rows = timeline(3, |s| if s > 120 { 70_000 } else { 80_000 }, |_| 1 << 30);
        let soak = stability(&rows, 1.0, 181.0).expect("three minutes");
        assert!(soak.throughput_fell);
        assert!((soak.last_to_first - 0.875).abs() < 1e-9, "{soak:?}");
        let w = warnings(&soak);
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("0.88 of the first"), "{w:?}");
    }
}
