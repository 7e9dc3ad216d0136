//! `ioschain capacity`: the highest offered rate this configuration sustains within a
//! latency SLO (BENCHMARKING.md rule 10), found by search instead of a hand-made sweep.
//!
//! **Probe.** One short open-loop [`run::run`] at offered rate R (tx/s over all shards)
//! with the user's other `ioschain run` flags, `--warmup`/`--duration` from
//! `--probe-warmup`/`--probe-duration` (defaults 1 s and 3 s) and
//! `--out OUT/probe-<k>-rate<R>` (k = 1, 2, … in probe order). It reads the probe's
//! `summary.json`. A probe **passes** when all three hold:
//! - the run is VALID (every validity check passed; an invalid run's throughput is not a
//!   result, and an invalid probe is a bug to report, not a capacity limit);
//! - `tps.final ≥ SUSTAINED_FRACTION (0.95) × offered × valid share`: the run kept up with
//!   the offered *valid* rate, the rule of `ioschain run`'s "did not keep up" warning
//!   (the sweep's max sustainable rate uses the same fraction of the offered rate). The
//!   valid share (the part of the released stream the workload marks valid:
//!   intra-shard transactions expected final and cross-shard ones expected to commit)
//!   is `counts.final / counts.submitted` of the summary: in a VALID run every released
//!   transaction was accounted for after the drain and ended as the workload expected,
//!   so these counts are the valid and the released transactions (1 with the default
//!   workload, below 1 with `--invalid-fraction`, canaries or misbehaving clients). The
//!   one difference from the run's share: of a conflicting cross-shard pair, the member
//!   that commits counts as valid here, which makes the rule at most slightly stricter;
//! - final p99 (`latency_us.final.p99`) ≤ `--slo-ms`;
//! - no arrival was refused at a full intake (`counts.overloaded` = 0): a shard that
//!   refused work did not sustain the rate, however low the latency of what it admitted
//!   (shed transactions are left out of the valid share's released count).
//!
//! **Search.** Assumes that passing is monotone in the rate (a rate passes if a higher one
//! does) and makes it so where noise breaks it: the bracket is `hi` = the lowest failing
//! rate probed and `lo` = the highest passing rate probed *below* `hi` (a pass above a
//! failure is ignored: the answer errs low). [`next_step`] decides the next probe from
//! the results so far, and nothing else:
//! 1. no probe yet: `--start-rate` (default 20,000);
//! 2. bracketing up: only passes so far: twice the highest, capped at `--max-rate`
//!    (default 1,000,000); when `--max-rate` itself passed the search ends there
//!    ("at least `--max-rate`");
//! 3. bracketing down: only failures so far: half the lowest, floored at `--min-rate`
//!    (default 1,000); when `--min-rate` itself failed the search ends with no rate;
//! 4. bisection: `lo` and `hi` known: while `hi − lo > --precision × lo` (default 2%),
//!    the roundest rate in the middle quarter of the bracket (a multiple of the largest
//!    1, 2 or 5 × 10^k that has one there, nearest the midpoint: readable rates, and a
//!    repeated search probes the same ones and finds their workloads cached); then the
//!    answer is `lo`.
//!
//! Invariants (unit-tested with a fake probe): every probe rate lies in
//! `--min-rate..=--max-rate` and is never probed twice; while bisecting, every probe is
//! strictly inside (lo, hi), so the bracket shrinks to at most 5/8 of its width each
//! probe; the answer is a rate that passed, the bracket above it failed within
//! `--precision` of it (or it is `--max-rate`), and no rate is claimed when nothing
//! passed.
//!
//! **Workloads.** The workload cache key includes the transaction count (rate ×
//! (warm-up + duration)), so each new rate generates and signs a new workload (at about
//! the signature-verification rate of the machine's cores) and caches it; a rate probed
//! again (the bracketing rates of a repeated search, and its round midpoints) loads it
//! from the cache.
//!
//! **Outputs.** A progress bar over the probes (hidden when stdout is not a terminal;
//! drawn between probes, each probe's run shows its own status) and a line per probe on
//! stderr; then the probes (rate, final tx/s, the rate needed, final p99, validity,
//! verdict and why) and the result are printed and written to `OUT/capacity.json` with
//! the SLO, the search settings and the machine (OUT default:
//! `target/ioschain/capacity/<UTC time>`). The probes are also written as the points of a
//! one-shard-count sweep (`OUT/sweep.csv`, by rate) with its report
//! (`OUT/report/report.html`: final latency against achieved throughput, the curve the
//! search walked); `ioschain report OUT --html` draws it again.
//!
//! **Exit codes.** 0 a rate passed, 1 even the lowest probe failed, 2 bad input
//! (`--slo-ms` ≤ 0, `--precision` outside (0, 0.5], rates out of order, a rejected
//! pass-through flag — `--rate`, `--inflight`, `--warmup`, `--duration`,
//! `--print-config` — or a probe that reports bad input).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ioschain_reports::numbers::thousands;
use ioschain_reports::summary::RunSummary;
use serde::Serialize;

use crate::cli::{CapacityArgs, RunArgs};
use crate::machine::{self, Machine};
use crate::run::{self, Exit};
use crate::sweep::SUSTAINED_FRACTION;

/// The name of the search's record in OUT.
pub const CAPACITY_JSON: &str = "capacity.json";
/// The `schema` of [`CAPACITY_JSON`].
pub const SCHEMA: &str = "ioschain-capacity/1";

/// The rates and the precision of a search.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bounds {
    /// First probe, tx/s.
    pub start: u64,
    /// Lowest rate probed, tx/s.
    pub min: u64,
    /// Highest rate probed, tx/s.
    pub max: u64,
    /// The search ends when the bracket is within this fraction of its low end.
    pub precision: f64,
}

impl Bounds {
    /// Why these bounds cannot drive a search, if they cannot.
    pub fn check(&self) -> Result<(), String> {
        if !(self.precision.is_finite() && self.precision > 0.0 && self.precision <= 0.5) {
            return Err(format!(
                "--precision: {} is not allowed (must be above 0 and at most 0.5)",
                self.precision
            ));
        }
        if self.min == 0 {
            return Err("--min-rate: 0 is not allowed (must be above 0)".into());
        }
        if !(self.min <= self.start && self.start <= self.max) {
            return Err(format!(
                "the rates must satisfy --min-rate ≤ --start-rate ≤ --max-rate (got {} ≤ {} ≤ {})",
                self.min, self.start, self.max
            ));
        }
        Ok(())
    }
}

/// How a search ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// `rate` passed; `failed_above` (the bracket's high end) failed within the precision,
    /// or is `None` when `rate` is `--max-rate` (the capacity is at least that).
    Found {
        /// The highest passing rate, tx/s.
        rate: u64,
        /// The lowest failing rate above it, tx/s.
        failed_above: Option<u64>,
    },
    /// Nothing passed: `lowest`, the lowest rate probed (`--min-rate`), failed.
    NoneFound {
        /// The lowest rate probed, tx/s.
        lowest: u64,
    },
}

/// What to do after the probes so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Probe this rate next.
    Probe(u64),
    /// The search is over.
    Done(Verdict),
}

/// The bracket of `probes` ((rate, passed) in probe order): the lowest failing rate, and
/// the highest passing rate below it (a pass above a failure is noise and ignored).
pub fn bracket(probes: &[(u64, bool)]) -> (Option<u64>, Option<u64>) {
    let hi = probes.iter().filter(|p| !p.1).map(|p| p.0).min();
    let lo = probes
        .iter()
        .filter(|p| p.1 && hi.is_none_or(|hi| p.0 < hi))
        .map(|p| p.0)
        .max();
    (lo, hi)
}

/// The largest 1, 2 or 5 × 10^k that is at most `x` (1 when `x` ≤ 1).
fn round_step(x: u64) -> u64 {
    let mut decade = 1u64;
    while decade.saturating_mul(10) <= x {
        decade *= 10;
    }
    [5, 2, 1]
        .into_iter()
        .map(|m| m * decade)
        .find(|&s| s <= x)
        .unwrap_or(1)
}

/// The next smaller step of the 1, 2, 5 × 10^k series (0 after 1).
fn smaller_step(step: u64) -> u64 {
    let mut decade = 1u64;
    while decade.saturating_mul(10) <= step {
        decade *= 10;
    }
    match step / decade {
        5 => 2 * decade,
        2 => decade,
        _ => decade / 10 * 5,
    }
}

/// The roundest rate in the middle quarter of the bracket (lo, hi) (which must be at
/// least 2 apart): the multiple of the largest 1, 2 or 5 × 10^k that has one there,
/// nearest the midpoint. Always strictly inside (lo, hi), and each end at least 3/8 of
/// the bracket away (at least 1), so the bracket shrinks to at most 5/8 per probe.
pub fn midpoint(lo: u64, hi: u64) -> u64 {
    debug_assert!(hi >= lo + 2);
    let gap = hi - lo;
    let mid = lo + gap / 2;
    let margin = (3 * gap / 8).max(1);
    let (band_lo, band_hi) = (lo + margin, hi - margin);
    let mut step = round_step(gap);
    while step > 1 {
        let below = mid / step * step;
        let candidates = [below, below + step];
        if let Some(m) = candidates
            .into_iter()
            .filter(|m| (band_lo..=band_hi).contains(m))
            .min_by_key(|m| m.abs_diff(mid))
        {
            return m;
        }
        step = smaller_step(step);
    }
    mid
}

/// The search rule (see the module doc): the next probe, or the verdict, from the
/// results so far ((rate, passed) in probe order). Pure: the same results give the same
/// step.
pub fn next_step(bounds: &Bounds, probes: &[(u64, bool)]) -> Step {
    match bracket(probes) {
        (None, None) => Step::Probe(bounds.start),
        (Some(lo), None) if lo >= bounds.max => Step::Done(Verdict::Found {
            rate: lo,
            failed_above: None,
        }),
        (Some(lo), None) => Step::Probe(lo.saturating_mul(2).min(bounds.max)),
        (None, Some(hi)) if hi <= bounds.min => Step::Done(Verdict::NoneFound { lowest: hi }),
        (None, Some(hi)) => Step::Probe((hi / 2).max(bounds.min)),
        (Some(lo), Some(hi)) => {
            if hi - lo <= 1 || (hi - lo) as f64 <= bounds.precision * lo as f64 {
                Step::Done(Verdict::Found {
                    rate: lo,
                    failed_above: Some(hi),
                })
            } else {
                Step::Probe(midpoint(lo, hi))
            }
        }
    }
}

/// About how many more probes the search needs after `probes` (for the progress bar):
/// the bisection steps of the current bracket, plus one bracketing step while there is
/// no bracket yet (a factor-2 bracket after it).
pub fn remaining_estimate(bounds: &Bounds, probes: &[(u64, bool)]) -> u64 {
    let bisect = |lo: u64, hi: u64| -> u64 {
        let target = (bounds.precision * lo as f64).max(1.0);
        let ratio = (hi - lo) as f64 / target;
        if ratio <= 1.0 {
            0
        } else {
            ratio.log2().ceil() as u64
        }
    };
    match next_step(bounds, probes) {
        Step::Done(_) => 0,
        Step::Probe(rate) => match bracket(probes) {
            (Some(lo), Some(hi)) => bisect(lo, hi),
            _ => 1 + bisect(rate / 2, rate).max(1),
        },
    }
}

/// Runs the search with `probe` (called with the rate and the results so far; `Ok(true)`
/// for a pass) until [`next_step`] says it is done: the results in probe order and the
/// verdict. An error from `probe` stops the search.
pub fn search<E>(
    bounds: &Bounds,
    mut probe: impl FnMut(u64, &[(u64, bool)]) -> Result<bool, E>,
) -> Result<(Vec<(u64, bool)>, Verdict), E> {
    let mut probes = Vec::new();
    loop {
        match next_step(bounds, &probes) {
            Step::Done(verdict) => return Ok((probes, verdict)),
            Step::Probe(rate) => {
                let passed = probe(rate, &probes)?;
                probes.push((rate, passed));
            }
        }
    }
}

/// What a probe's summary says, and the verdict on it.
#[derive(Clone, Debug, Serialize)]
pub struct Probe {
    /// 1-based, in probe order.
    pub k: usize,
    /// Offered rate, tx/s.
    pub rate: u64,
    /// The probe's run directory.
    pub dir: PathBuf,
    /// Final throughput over the measured window, tx/s.
    pub tps_final: f64,
    /// The share of the released stream the workload marks valid (`None`: the run was
    /// invalid, so its counts say nothing about it).
    pub valid_share: Option<f64>,
    /// The final throughput the probe needed: 0.95 × offered × valid share.
    pub needed_tps: Option<f64>,
    /// Final p99, ms.
    pub final_p99_ms: f64,
    /// Whether every validity check passed.
    pub valid: bool,
    /// Whether the probe passed.
    pub pass: bool,
    /// Why it failed ("ok" when it passed).
    pub why: String,
    /// Wall-clock seconds of the probe (workload, ceilings, run, validity).
    pub seconds: f64,
}

/// Judges a probe at `rate` from its summary against `slo_ms`.
pub fn judge(k: usize, rate: u64, dir: PathBuf, s: &RunSummary, slo_ms: f64) -> Probe {
    let valid = s.validity.valid;
    let valid_share = valid.then(|| {
        let admitted = s.counts.submitted - s.counts.shed.min(s.counts.submitted);
        if admitted > 0 {
            s.counts.final_ as f64 / admitted as f64
        } else {
            1.0
        }
    });
    let needed_tps = valid_share.map(|share| SUSTAINED_FRACTION * s.offered_tps * share);
    let final_p99_ms = s.latency_us.final_.p99 as f64 / 1000.0;
    let mut why = Vec::new();
    if !valid {
        let failed: Vec<&str> = s
            .validity
            .checks
            .iter()
            .filter(|c| !c.ok)
            .map(|c| c.name.as_str())
            .collect();
        why.push(format!("INVALID run ({})", failed.join(", ")));
    }
    if let Some(needed) = needed_tps
        && s.tps.final_ < needed
    {
        why.push(format!(
            "final {} tx/s < {} tx/s ({SUSTAINED_FRACTION} × the offered valid rate)",
            thousands(s.tps.final_),
            thousands(needed)
        ));
    }
    if final_p99_ms > slo_ms {
        why.push(format!("final p99 {final_p99_ms:.1} ms > SLO {slo_ms} ms"));
    }
    if s.counts.overloaded > 0 {
        why.push(format!(
            "the shards' intakes refused {} arrivals (overloaded)",
            thousands(s.counts.overloaded as f64)
        ));
    }
    Probe {
        k,
        rate,
        dir,
        tps_final: s.tps.final_,
        valid_share,
        needed_tps,
        final_p99_ms,
        valid,
        pass: why.is_empty(),
        why: if why.is_empty() {
            "ok".into()
        } else {
            why.join("; ")
        },
        seconds: 0.0,
    }
}

/// The result in [`CAPACITY_JSON`].
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    /// `found`, `at_max_rate` (the highest rate allowed passed) or `none`.
    pub status: String,
    /// The highest passing offered rate, tx/s.
    pub rate: Option<u64>,
    /// The lowest failing rate above it, tx/s.
    pub failed_above: Option<u64>,
    /// The passing probe's final throughput, tx/s.
    pub tps_final: Option<f64>,
    /// The passing probe's final p99, ms.
    pub final_p99_ms: Option<f64>,
}

/// [`CAPACITY_JSON`]: the search settings, the machine, the probes and the result.
#[derive(Clone, Debug, Serialize)]
pub struct Record {
    /// [`SCHEMA`].
    pub schema: String,
    /// The latency SLO on the final p99, ms.
    pub slo_ms: f64,
    /// The share of the offered valid rate a probe must finalize.
    pub sustained_fraction: f64,
    /// `--precision`.
    pub precision: f64,
    /// `--start-rate`, tx/s.
    pub start_rate: u64,
    /// `--min-rate`, tx/s.
    pub min_rate: u64,
    /// `--max-rate`, tx/s.
    pub max_rate: u64,
    /// Warm-up of each probe, s.
    pub probe_warmup_s: f64,
    /// Measured window of each probe, s.
    pub probe_duration_s: f64,
    /// Shards.
    pub shards: u32,
    /// Worker cores the probes used.
    pub cores: u32,
    /// Where it ran.
    pub machine: Machine,
    /// Every probe, in order.
    pub probes: Vec<Probe>,
    /// The result.
    pub result: Outcome,
    /// Wall-clock seconds of the whole search.
    pub elapsed_s: f64,
}

/// The flags of `ioschain run` the search sets itself or that make no sense in it.
fn rejected_flags(args: &RunArgs) -> Vec<&'static str> {
    let mut rejected = Vec::new();
    if args.rate.is_some() {
        rejected.push("--rate (the search sets the rate; use --start-rate/--max-rate)");
    }
    if args.inflight.is_some() {
        rejected.push("--inflight (a capacity search is open loop)");
    }
    if args.warmup.is_some() {
        rejected.push("--warmup (use --probe-warmup)");
    }
    if args.duration.is_some() {
        rejected.push("--duration (use --probe-duration)");
    }
    rejected.extend(args.run_only_flags());
    rejected
}

/// The run flags of the probe at `rate` into `dir`.
fn probe_args(args: &CapacityArgs, rate: u64, dir: Option<&Path>) -> RunArgs {
    let mut run_args = args.run.clone();
    run_args.rate = Some(rate as f64);
    run_args.warmup = Some(args.probe_warmup);
    run_args.duration = Some(args.probe_duration);
    run_args.out = dir.map(Path::to_path_buf);
    run_args
}

/// Why the search stopped early.
enum Stop {
    BadInput,
    Error(anyhow::Error),
}

/// Runs `ioschain capacity` and returns the exit status.
pub fn capacity(args: &CapacityArgs) -> anyhow::Result<Exit> {
    let bad = |message: String| {
        eprintln!("error: {message}");
        eprintln!("(see `ioschain capacity --help`)");
        Ok(Exit::BadInput)
    };
    if !(args.slo_ms.is_finite() && args.slo_ms > 0.0) {
        return bad(format!(
            "--slo-ms: {} is not allowed (must be above 0)",
            args.slo_ms
        ));
    }
    let bounds = Bounds {
        start: args.start_rate,
        min: args.min_rate,
        max: args.max_rate,
        precision: args.precision,
    };
    if let Err(e) = bounds.check() {
        return bad(e);
    }
    if !(args.probe_warmup.is_finite() && args.probe_warmup >= 0.0) {
        return bad(format!(
            "--probe-warmup: {} is not allowed (0 or more seconds)",
            args.probe_warmup
        ));
    }
    if !(args.probe_duration.is_finite() && args.probe_duration >= 1.0) {
        return bad(format!(
            "--probe-duration: {} is not allowed (at least 1 second)",
            args.probe_duration
        ));
    }
    let rejected = rejected_flags(&args.run);
    if !rejected.is_empty() {
        return bad(format!(
            "not allowed with `ioschain capacity`: {}",
            rejected.join(", ")
        ));
    }
    // The configuration at both ends of the range: bad flags or file keys (and rates
    // too high for one run) stop the search before its first probe.
    let mut shape = None;
    for rate in [bounds.min, bounds.max] {
        match run::resolve_config(&probe_args(args, rate, None)) {
            Ok(config) if config.run.inflight.is_some() => {
                return bad(
                    "run.inflight is set (in --config): a capacity search is open loop".into(),
                );
            }
            // One worker per core, never more workers than shards (as in the sweep).
            Ok(config) => shape = Some((config.shards(), config.cores().min(config.shards()))),
            Err(e) => return bad(format!("at {} tx/s: {e}", thousands(rate as f64))),
        }
    }
    let (shards, cores) = shape.expect("resolved above");
    let out = args.run.out.clone().unwrap_or_else(|| {
        PathBuf::from("target/ioschain/capacity").join(run::utc_stamp(SystemTime::now()))
    });
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create capacity directory {}", out.display()))?;
    eprintln!(
        "capacity: {shards} shards, {cores} cores; final p99 ≤ {} ms, final ≥ {SUSTAINED_FRACTION} × the offered valid rate, VALID; probes of {} s + {} s from {} tx/s, within {}% → {}",
        args.slo_ms,
        args.probe_warmup,
        args.probe_duration,
        thousands(bounds.start as f64),
        args.precision * 100.0,
        out.display()
    );

    let started = Instant::now();
    let bar = ProgressBar::with_draw_target(
        Some(remaining_estimate(&bounds, &[])),
        ProgressDrawTarget::stdout(),
    );
    bar.set_style(
        ProgressStyle::with_template("capacity [{bar:30}] {pos}/~{len} probes · {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let mut probes: Vec<Probe> = Vec::new();
    let searched = search(&bounds, |rate, results| {
        let k = results.len() + 1;
        let dir = out.join(format!("probe-{k}-rate{rate}"));
        let (lo, hi) = bracket(results);
        let range = |r: Option<u64>| r.map_or("?".into(), |r| thousands(r as f64));
        eprintln!(
            "[capacity] probe {k} · rate {} · bracket {}..{} → {}",
            thousands(rate as f64),
            range(lo),
            range(hi),
            dir.display()
        );
        bar.set_message(format!(
            "probing {} tx/s · bracket {}..{}",
            thousands(rate as f64),
            range(lo),
            range(hi)
        ));
        let probe_started = Instant::now();
        let exit = bar
            .suspend(|| run::run(&probe_args(args, rate, Some(&dir))))
            .map_err(Stop::Error)?;
        if exit == Exit::BadInput {
            eprintln!(
                "error: the probe at {} tx/s reported bad input; search stopped",
                thousands(rate as f64)
            );
            return Err(Stop::BadInput);
        }
        let summary = RunSummary::load(&dir).map_err(|e| Stop::Error(e.into()))?;
        let mut probe = judge(k, rate, dir, &summary, args.slo_ms);
        probe.seconds = probe_started.elapsed().as_secs_f64();
        eprintln!(
            "[capacity] probe {k}: {} tx/s → final {} tx/s, p99 {:.1} ms, {}: {} ({})",
            thousands(rate as f64),
            thousands(probe.tps_final),
            probe.final_p99_ms,
            if probe.valid { "VALID" } else { "INVALID" },
            if probe.pass { "pass" } else { "FAIL" },
            probe.why
        );
        let passed = probe.pass;
        probes.push(probe);
        let so_far: Vec<(u64, bool)> = probes.iter().map(|p| (p.rate, p.pass)).collect();
        bar.set_length(so_far.len() as u64 + remaining_estimate(&bounds, &so_far));
        bar.inc(1);
        Ok(passed)
    });
    bar.finish_and_clear();
    let verdict = match searched {
        Ok((_, verdict)) => verdict,
        Err(Stop::BadInput) => return Ok(Exit::BadInput),
        Err(Stop::Error(e)) => return Err(e),
    };

    let passing = |rate: u64| probes.iter().find(|p| p.rate == rate && p.pass);
    let result = match verdict {
        Verdict::Found { rate, failed_above } => Outcome {
            status: if failed_above.is_some() {
                "found"
            } else {
                "at_max_rate"
            }
            .into(),
            rate: Some(rate),
            failed_above,
            tps_final: passing(rate).map(|p| p.tps_final),
            final_p99_ms: passing(rate).map(|p| p.final_p99_ms),
        },
        Verdict::NoneFound { .. } => Outcome {
            status: "none".into(),
            rate: None,
            failed_above: None,
            tps_final: None,
            final_p99_ms: None,
        },
    };
    let record = Record {
        schema: SCHEMA.into(),
        slo_ms: args.slo_ms,
        sustained_fraction: SUSTAINED_FRACTION,
        precision: bounds.precision,
        start_rate: bounds.start,
        min_rate: bounds.min,
        max_rate: bounds.max,
        probe_warmup_s: args.probe_warmup,
        probe_duration_s: args.probe_duration,
        shards,
        cores,
        machine: machine::describe(),
        probes,
        result,
        elapsed_s: started.elapsed().as_secs_f64(),
    };
    let path = out.join(CAPACITY_JSON);
    std::fs::write(&path, serde_json::to_string_pretty(&record)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let report = write_curve(&out, &record)?;
    println!();
    print!("{}", render(&record, &verdict));
    println!(
        "capacity: {} (the curve: {})",
        path.display(),
        report.display()
    );
    Ok(match verdict {
        Verdict::Found { .. } => Exit::Valid,
        Verdict::NoneFound { .. } => Exit::Invalid,
    })
}

/// The probes as the points of a one-shard-count sweep (`OUT/sweep.csv`, in order of
/// rate), and the sweep report of them (`OUT/report/report.html`): final latency against
/// achieved throughput over the probed rates, the curve the search walked.
fn write_curve(out: &Path, record: &Record) -> anyhow::Result<PathBuf> {
    let mut points = Vec::with_capacity(record.probes.len());
    for probe in &record.probes {
        let summary = RunSummary::load(&probe.dir)?;
        points.push(crate::sweep::point(
            record.shards,
            record.cores,
            probe.rate,
            1,
            &summary,
        ));
    }
    points.sort_by_key(|p| p.rate);
    std::fs::write(
        out.join(crate::sweep::SWEEP_CSV),
        crate::sweep::render_csv(&points),
    )?;
    let html =
        ioschain_reports::report::write_report(&[out.to_path_buf()], &out.join("report"), true)?;
    Ok(html.with_file_name(ioschain_reports::report::REPORT_HTML))
}

/// The probes table and the result line, as printed.
pub fn render(record: &Record, verdict: &Verdict) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "ioschain capacity · {} shards · {} cores · {} · pass: VALID, final p99 ≤ {} ms, final ≥ {} × the offered valid rate · probes of {} s + {} s\n",
        record.shards,
        record.cores,
        record.machine.cpu,
        record.slo_ms,
        record.sustained_fraction,
        record.probe_warmup_s,
        record.probe_duration_s
    );
    let _ = writeln!(
        out,
        "| probe | offered tx/s | final tx/s | needed tx/s | final p99 ms | valid | verdict | why |"
    );
    let _ = writeln!(out, "|---:|---:|---:|---:|---:|:---:|:---:|---|");
    for p in &record.probes {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {:.1} | {} | {} | {} |",
            p.k,
            thousands(p.rate as f64),
            thousands(p.tps_final),
            p.needed_tps.map_or("–".into(), thousands),
            p.final_p99_ms,
            if p.valid { "yes" } else { "NO" },
            if p.pass { "pass" } else { "FAIL" },
            p.why
        );
    }
    let invalid = record.probes.iter().filter(|p| !p.valid).count();
    if invalid > 0 {
        let _ = writeln!(
            out,
            "\nWARNING: {invalid} probe{} INVALID: a validity check failed, which is a bug, not a capacity limit (see the probes' summary.json)",
            if invalid == 1 { " was" } else { "s were" }
        );
    }
    let seconds = format!(
        "{} probes in {:.0} s",
        record.probes.len(),
        record.elapsed_s
    );
    let _ = match *verdict {
        Verdict::Found {
            rate,
            failed_above: Some(above),
        } => writeln!(
            out,
            "\ncapacity: {} tx/s offered ({} passed, {} failed: within {:.1}%; {seconds})",
            thousands(rate as f64),
            thousands(rate as f64),
            thousands(above as f64),
            (above - rate) as f64 / rate as f64 * 100.0
        ),
        Verdict::Found {
            rate,
            failed_above: None,
        } => writeln!(
            out,
            "\ncapacity: at least {} tx/s offered: --max-rate passed, raise it to search higher ({seconds})",
            thousands(rate as f64)
        ),
        Verdict::NoneFound { lowest } => writeln!(
            out,
            "\ncapacity: NONE: even the lowest probe, {} tx/s (--min-rate), failed; lower --min-rate or relax --slo-ms ({seconds})",
            thousands(lowest as f64)
        ),
    };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(start: u64, min: u64, max: u64, precision: f64) -> Bounds {
        Bounds {
            start,
            min,
            max,
            precision,
        }
    }

    /// Searches with a fake probe that passes at or below `threshold`, checking the
    /// invariants of every step; the probes and the verdict.
    fn fake(b: &Bounds, threshold: u64) -> (Vec<(u64, bool)>, Verdict) {
        let (probes, verdict) = search(b, |rate, so_far| {
            assert!((b.min..=b.max).contains(&rate), "{rate} out of range");
            assert!(
                so_far.iter().all(|p| p.0 != rate),
                "{rate} probed twice: {so_far:?}"
            );
            if let (Some(lo), Some(hi)) = bracket(so_far) {
                assert!(lo < rate && rate < hi, "{rate} outside ({lo}, {hi})");
            }
            assert!(so_far.len() < 100, "runaway search: {so_far:?}");
            Ok::<_, ()>(rate <= threshold)
        })
        .unwrap();
        (probes, verdict)
    }

    #[test]
    fn ends_within_precision_of_the_threshold() {
        let b = bounds(20_000, 1_000, 1_000_000, 0.02);
        for threshold in [
            1_000, 1_234, 19_999, 20_000, 20_001, 33_333, 71_234, 159_999, 500_000, 999_999,
        ] {
            let (probes, verdict) = fake(&b, threshold);
            let Verdict::Found {
                rate,
                failed_above: Some(above),
            } = verdict
            else {
                panic!("{threshold}: {verdict:?}");
            };
            assert!(
                rate <= threshold && threshold < above,
                "{threshold}: {verdict:?}"
            );
            assert!(
                (above - rate) as f64 <= 0.02 * rate as f64 || above - rate <= 1,
                "{threshold}: {verdict:?}"
            );
            assert!(probes.contains(&(rate, true)) && probes.contains(&(above, false)));
            // Bracketing then bisection: a few dozen probes at most.
            assert!(probes.len() <= 20, "{threshold}: {probes:?}");
        }
    }

    #[test]
    fn every_threshold_start_and_precision_ends_right() {
        for precision in [0.005, 0.02, 0.1, 0.5] {
            for start in [1_000, 1_001, 20_000, 777_777, 2_000_000] {
                let b = bounds(start, 1_000, 2_000_000, precision);
                for i in 0..300u64 {
                    let threshold = 900 + i * i * 23 + i * 7;
                    let (probes, verdict) = fake(&b, threshold);
                    match verdict {
                        Verdict::NoneFound { lowest } => {
                            assert!(threshold < 1_000 && lowest == 1_000, "{threshold}")
                        }
                        Verdict::Found {
                            rate,
                            failed_above: None,
                        } => assert!(threshold >= 2_000_000 && rate == 2_000_000),
                        Verdict::Found {
                            rate,
                            failed_above: Some(above),
                        } => {
                            assert!(rate <= threshold && threshold < above);
                            assert!(
                                (above - rate) as f64 <= precision * rate as f64
                                    || above - rate <= 1
                            );
                        }
                    }
                    assert!(probes.len() <= 40, "{threshold}: {probes:?}");
                }
            }
        }
    }

    #[test]
    fn brackets_by_doubling_then_bisects_round_rates() {
        let b = bounds(20_000, 1_000, 1_000_000, 0.02);
        let (probes, verdict) = fake(&b, 71_234);
        let rates: Vec<u64> = probes.iter().map(|p| p.0).collect();
        assert_eq!(&rates[..5], &[20_000, 40_000, 80_000, 60_000, 70_000]);
        assert_eq!(
            verdict,
            Verdict::Found {
                rate: 71_000,
                failed_above: Some(72_000)
            },
            "{probes:?}"
        );
        // Bracketing down when the start fails.
        let (probes, _) = fake(&b, 3_000);
        let rates: Vec<u64> = probes.iter().map(|p| p.0).collect();
        assert_eq!(&rates[..4], &[20_000, 10_000, 5_000, 2_500]);
    }

    #[test]
    fn lowest_failing_and_max_rate_passing_end_the_search() {
        let b = bounds(20_000, 1_000, 1_000_000, 0.02);
        let (probes, verdict) = fake(&b, 999);
        assert_eq!(verdict, Verdict::NoneFound { lowest: 1_000 });
        assert_eq!(
            probes.iter().map(|p| p.0).collect::<Vec<_>>(),
            [20_000, 10_000, 5_000, 2_500, 1_250, 1_000]
        );
        let (probes, verdict) = fake(&b, 5_000_000);
        assert_eq!(
            verdict,
            Verdict::Found {
                rate: 1_000_000,
                failed_above: None
            }
        );
        assert_eq!(probes.last(), Some(&(1_000_000, true)));
        // A start at the top or the bottom of the range.
        let b = bounds(500, 500, 500, 0.02);
        assert_eq!(
            fake(&b, 500).1,
            Verdict::Found {
                rate: 500,
                failed_above: None
            }
        );
        assert_eq!(fake(&b, 499).1, Verdict::NoneFound { lowest: 500 });
    }

    #[test]
    fn noise_above_a_failure_is_ignored() {
        // A pass above the lowest failure (45k after a failure at 40k) never becomes the
        // answer: the search stays below the failure.
        let results = [(20_000, true), (40_000, false), (45_000, true)];
        assert_eq!(bracket(&results), (Some(20_000), Some(40_000)));
        let b = bounds(20_000, 1_000, 1_000_000, 0.02);
        assert_eq!(next_step(&b, &results), Step::Probe(30_000));
        // Small brackets still probe strictly inside, and end when 1 apart.
        assert_eq!(midpoint(10, 12), 11);
        assert_eq!(midpoint(10, 13), 12);
        let b = bounds(10, 1, 100, 0.02);
        assert_eq!(
            next_step(&b, &[(10, true), (11, false)]),
            Step::Done(Verdict::Found {
                rate: 10,
                failed_above: Some(11)
            })
        );
    }

    #[test]
    fn round_steps_and_estimates() {
        assert_eq!(round_step(0), 1);
        assert_eq!(round_step(7), 5);
        assert_eq!(round_step(2_499), 2_000);
        assert_eq!(round_step(10_000), 10_000);
        assert_eq!(smaller_step(5_000), 2_000);
        assert_eq!(smaller_step(2_000), 1_000);
        assert_eq!(smaller_step(1_000), 500);
        assert_eq!(smaller_step(1), 0);
        assert_eq!(midpoint(40_000, 80_000), 60_000);
        assert_eq!(midpoint(70_000, 80_000), 75_000);
        assert_eq!(midpoint(70_000, 75_000), 72_000);
        assert_eq!(midpoint(123_457, 131_011), 128_000);
        for (lo, hi) in [
            (10, 12),
            (10, 13),
            (997, 1_003),
            (1, 1_000_000),
            (65_432, 65_999),
        ] {
            let m = midpoint(lo, hi);
            let margin = (3 * (hi - lo) / 8).max(1);
            assert!(lo + margin <= m && m + margin <= hi, "({lo}, {hi}) → {m}");
        }
        let b = bounds(20_000, 1_000, 1_000_000, 0.02);
        // 60k..80k at 2% of 60k: log2(20,000 / 1,200) → 5 more probes.
        assert_eq!(
            remaining_estimate(&b, &[(60_000, true), (80_000, false)]),
            5
        );
        assert_eq!(remaining_estimate(&b, &[(1_000, false)]), 0);
        assert!(remaining_estimate(&b, &[]) >= 6);
    }

    #[test]
    fn a_probe_passes_valid_keeping_up_with_the_valid_rate_within_the_slo_refusing_nothing() {
        use ioschain_reports::summary::Check;
        // 90% of the stream valid (an invalid fraction or canaries): the probe needs
        // 0.95 × 20,000 × 0.9 = 17,100 final tx/s.
        let summary = |tps: f64, p99_ms: u64, valid: bool| {
            let mut s = RunSummary {
                offered_tps: 20_000.0,
                ..RunSummary::default()
            };
            s.tps.final_ = tps;
            s.latency_us.final_.p99 = p99_ms * 1000;
            s.counts.submitted = 10_000;
            s.counts.final_ = 9_000;
            s.validity.valid = valid;
            s.validity.checks = vec![Check {
                name: "every_tx_accounted".into(),
                ok: valid,
                detail: String::new(),
            }];
            s
        };
        let judged = |s: &RunSummary| judge(1, 20_000, PathBuf::new(), s, 250.0);
        let p = judged(&summary(17_200.0, 100, true));
        assert!(p.pass, "{p:?}");
        assert_eq!(p.why, "ok");
        assert!((p.needed_tps.unwrap() - 17_100.0).abs() < 1e-6, "{p:?}");
        assert!((p.valid_share.unwrap() - 0.9).abs() < 1e-12);
        let p = judged(&summary(17_000.0, 100, true));
        assert!(
            !p.pass && p.why.contains("final 17,000 tx/s < 17,100 tx/s"),
            "{p:?}"
        );
        let p = judged(&summary(17_200.0, 300, true));
        assert!(
            !p.pass && p.why.contains("final p99 300.0 ms > SLO 250 ms"),
            "{p:?}"
        );
        let p = judged(&summary(20_000.0, 100, false));
        assert!(!p.pass && p.valid_share.is_none(), "{p:?}");
        assert_eq!(p.why, "INVALID run (every_tx_accounted)");
        // Refusals at a full intake fail a probe whatever the latency of the admitted;
        // shed transactions leave the valid share's count.
        let mut refused = summary(17_200.0, 100, true);
        refused.counts.overloaded = 1_500;
        refused.counts.shed = 1_000;
        let p = judged(&refused);
        assert!(
            !p.pass && p.why.contains("intakes refused 1,500 arrivals"),
            "{p:?}"
        );
        assert!((p.valid_share.unwrap() - 1.0).abs() < 1e-12, "{p:?}");
    }

    #[test]
    fn bounds_are_checked() {
        assert!(bounds(20_000, 1_000, 1_000_000, 0.02).check().is_ok());
        assert!(bounds(20_000, 1_000, 1_000_000, 0.5).check().is_ok());
        for (b, needle) in [
            (bounds(20_000, 1_000, 1_000_000, 0.0), "--precision"),
            (bounds(20_000, 1_000, 1_000_000, 0.6), "--precision"),
            (bounds(20_000, 1_000, 1_000_000, f64::NAN), "--precision"),
            (bounds(20_000, 0, 1_000_000, 0.02), "--min-rate"),
            (bounds(20_000, 30_000, 1_000_000, 0.02), "--min-rate ≤"),
            (bounds(20_000, 1_000, 10_000, 0.02), "--max-rate"),
        ] {
            let e = b.check().unwrap_err();
            assert!(e.contains(needle), "{b:?}: {e}");
        }
    }
}
